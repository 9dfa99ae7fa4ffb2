import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileWatches } from "../bin/cli/dev-watch.js";

let dir: string;
let seen: string[];
let watches: FileWatches;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "dev-watch-"));
  seen = [];
  watches = new FileWatches((path) => seen.push(path));
});

afterEach(() => {
  watches.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Waits until `count` changes have been reported, up to 10 s. */
async function reported(count: number): Promise<string[]> {
  for (let i = 0; i < 200 && seen.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  return seen;
}

describe("FileWatches (the files tsmicro dev follows outside the service's folder)", () => {
  it("reports a change when a followed file's folder is removed, its events read only after it is gone, and again on its return", async () => {
    const shared = join(dir, "shared");
    mkdirSync(shared);
    const greeting = join(shared, "greeting.ts");
    writeFileSync(greeting, "export const greeting = 1;\n");
    watches.add(greeting);
    // Removed in one step, before this process reads a single event, as a busy machine reads them.
    rmSync(shared, { recursive: true });
    expect(await reported(1)).toEqual([greeting]);
    // Made again (a build emptying its output folder), the file there is a change.
    mkdirSync(shared);
    writeFileSync(greeting, "export const greeting = 2;\n");
    expect((await reported(2))[1]).toBe(greeting);
  });
});
