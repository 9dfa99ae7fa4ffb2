import { errorCatalogue } from "../runtime/src/errors/catalogue.js";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";

describe("error catalogue", () => {
  it("documents every TSM_ERR_* code in the README's error table", async () => {
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    for (const code of Object.keys(errorCatalogue))
      expect(readme, `${code} missing from README`).toContain(`| \`${code}\` |`);
  });
});
