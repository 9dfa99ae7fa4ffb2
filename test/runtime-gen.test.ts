import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { bins, readTree, repoRoot, repoTempDir, run } from "./support/cli.js";

let out: string | undefined;

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

// The runtime's own generated code (health, reflection, wire types) is checked in; it must be what the
// generator writes today, or a generator change has not reached the runtime. `npm run generate:runtime` fixes it.
it("runtime/src/gen is what `npm run generate:runtime` writes today, byte for byte", async () => {
  out = await repoTempDir("runtime-gen");
  const result = await run("node", [
    bins.tsmicro,
    "generate",
    "--proto",
    join(repoRoot, "runtime/proto"),
    "--out",
    out,
    "--opt",
    "runtime_import=../../../../definition/index.js",
  ]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const generated = await readTree(out);
  const committed = await readTree(join(repoRoot, "runtime/src/gen"));
  expect([...committed.keys()].sort()).toEqual([...generated.keys()].sort());
  for (const [name, content] of generated)
    expect(committed.get(name), `runtime/src/gen/${name} differs; run npm run generate:runtime`).toBe(content);
});
