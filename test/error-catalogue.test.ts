import { errorCatalogue } from "../runtime/src/errors/catalogue.js";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";

describe("error catalogue", () => {
  it("documents every TSM_ERR_* code in the error table of docs/errors.md", async () => {
    const page = await readFile(new URL("../docs/errors.md", import.meta.url), "utf8");
    for (const code of Object.keys(errorCatalogue))
      expect(page, `${code} missing from docs/errors.md`).toContain(`| \`${code}\` |`);
  });
});
