import { statSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCreate } from "./support/project.js";

// `--dir`: an empty folder that exists is filled in place, never replaced, since a shell may sit in it;
// a bare flag is refused rather than taken as the cwd. Nothing is installed (--no-install).

let work = "";

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "tsmicro-create-dir-"));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("create-tsmicro --dir", () => {
  it("fills the empty folder it is run in (--dir .) in place: the shell's cwd still holds the project", async () => {
    const dir = join(work, "here");
    await mkdir(dir);
    const before = statSync(dir).ino;
    const created = await runCreate(["here", "--dir", ".", "--no-install"], dir);
    expect(created.code, created.stderr).toBe(0);
    expect(statSync(dir).ino).toBe(before);
    expect(await readdir(dir)).toEqual(expect.arrayContaining(["package.json", "proto", "src", "tsmicro.json"]));
    // No staging folder is left beside it.
    expect((await readdir(work)).filter((name) => name.includes(".tsmicro-"))).toEqual([]);
  });

  it("fills an existing empty folder given by path in place, and still creates a missing one", async () => {
    const open = join(work, "open");
    await mkdir(open);
    const before = statSync(open).ino;
    const filled = await runCreate(["open", "--dir", open, "--type", "web", "--no-install"], work);
    expect(filled.code, filled.stderr).toBe(0);
    expect(statSync(open).ino).toBe(before);
    expect(await readdir(open)).toContain("package.json");

    const created = await runCreate(["fresh", "--dir", "nested/fresh", "--type", "web", "--no-install"], work);
    expect(created.code, created.stderr).toBe(0);
    expect(await readdir(join(work, "nested/fresh"))).toContain("package.json");
  });

  it("leaves the empty folder empty, and the same folder, when the project cannot be made", async () => {
    const dir = join(work, "broken");
    await mkdir(dir);
    const before = statSync(dir).ino;
    await writeFile(join(work, "broken.proto"), 'syntax = "proto3";\npackage broken.v1;\nmessage A { string a = 1 }\n');
    const refused = await runCreate(["broken", "--dir", ".", "--proto", "../broken.proto", "--no-install"], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^create-tsmicro: the protos do not compile:/);
    expect(statSync(dir).ino).toBe(before);
    expect(await readdir(dir)).toEqual([]);
  });

  it("names a non-empty folder as the user wrote it", async () => {
    const full = join(work, "mine");
    await mkdir(full);
    await writeFile(join(full, "notes.txt"), "mine");
    const refused = await runCreate(["mine", "--dir", full, "--no-install"], tmpdir());
    expect(refused.stderr).toBe(
      `create-tsmicro: ${full} is not empty; choose another name or --dir, or empty it first\n`,
    );
    expect(await readdir(full)).toEqual(["notes.txt"]);
  });

  it("refuses --dir, --db or --type written without its value, and writes nothing", async () => {
    const dir = join(work, "bare");
    await mkdir(dir);
    const dirless = await runCreate(["bare", "--dir", "--no-install"], dir);
    expect(dirless.code).toBe(1);
    expect(dirless.stderr).toBe(
      "create-tsmicro: --dir needs a value: the folder to create the project in, such as --dir ./x\n",
    );
    const dbless = await runCreate(["bare", "--db", "--no-install"], dir);
    expect(dbless.code).toBe(1);
    expect(dbless.stderr).toBe("create-tsmicro: --db needs a value: use one of pglite, postgres\n");
    const typeless = await runCreate(["bare", "--type", "--no-install"], dir);
    expect(typeless.code).toBe(1);
    expect(typeless.stderr).toBe("create-tsmicro: --type needs a value: use one of service, api, web\n");
    const onOff = await runCreate(["bare", "--workspace=yes please", "--no-install"], dir);
    expect(onOff.code).toBe(1);
    expect(onOff.stderr).toBe(
      'create-tsmicro: --workspace has an invalid value "yes please": use on or off, or --workspace alone\n',
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it("reads --workspace=on as tsmicro's other switches read on, and puts no workspace in another", async () => {
    const made = await runCreate(["shop", "--dir", join(work, "shop-on"), "--workspace=on", "--install=off"], work);
    expect(made.code).toBe(0);
    expect(JSON.parse(await readFile(join(work, "shop-on", "tsmicro.json"), "utf8"))).toMatchObject({
      workspace: true,
    });

    // A workspace holds services, not another workspace.
    const inner = join(work, "shop-on", "more", "inner");
    const nested = await runCreate(["inner", "--workspace", "--dir", inner, "--no-install"], work);
    expect(nested.code).toBe(1);
    expect(nested.stderr).toBe(
      `create-tsmicro: ${inner} would be inside the workspace shop-on, and a workspace holds services, ` +
        "not another workspace: run tsmicro new inner there (without --workspace) to add a service, or choose a folder outside it\n",
    );
    expect(await readdir(join(work, "shop-on"))).not.toContain("more");
  });
});
