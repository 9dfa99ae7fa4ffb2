import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigTree } from "./config.js";
import { fileSource } from "./file-source.js";

describe("fileSource", () => {
  let dir = "";
  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const failure = (path: string) =>
    fileSource(path)
      .read()
      .then(
        () => ({ code: "none", message: "" }),
        (error: Error & { code?: string }) => ({ code: error.code, message: error.message }),
      );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-config-file-"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads JSON and YAML by extension", async () => {
    const json = await file("a.json", '{ "database": { "url": "postgres://db" }, "port": 80 }');
    const yaml = await file("b.yml", "database:\n  url: postgres://db # the primary\nport: 80\n");
    const expected = { database: { url: "postgres://db" }, port: 80 };
    expect(await fileSource(json).read()).toEqual(expected);
    expect(await fileSource(yaml).read()).toEqual(expected);
    expect(await fileSource(await file("empty.yaml", "")).read()).toEqual({});
  });

  it("names the file, line and column of a JSON mistake", async () => {
    const path = await file("bad.json", '{\n  "database": {\n    "url" "postgres://db"\n  }\n}\n');
    const { code, message } = await failure(path);
    expect(code).toBe("TSM_ERR_CONFIG_JSON");
    expect(message).toMatch(new RegExp(`^${path}:3:11: not valid JSON: `));
    const truncated = await failure(await file("cut.json", '{ "a": 1'));
    expect(truncated.message).toMatch(/cut\.json:1:9: not valid JSON: /);
    // V8 gives no position for an unexpected token, only the text around it: the place is tsmicro's own.
    const missing = await failure(await file("missing.json", '{"greeting": "x",\n  "retries": }\n'));
    expect(missing.message).toMatch(/missing\.json:2:14: not valid JSON: expected a value, found "}"$/);
    const short = await failure(await file("short.json", '{"a": }'));
    expect(short.message).toMatch(/short\.json:1:7: not valid JSON: expected a value, found "}"$/);
    const trailing = await failure(await file("trailing.json", '{"a": 1,\n}'));
    expect(trailing.message).toMatch(
      /trailing\.json:2:1: not valid JSON: a comma before }; JSON allows no trailing comma$/,
    );
  });

  it("refuses a key written twice in one JSON object, as YAML's, naming both places", async () => {
    const path = await file(
      "dup.json",
      '{\n  "http": {\n    "port": 1,\n    "host": "a",\n    "po\\u0072t": 2\n  }\n}\n',
    );
    expect(await failure(path)).toEqual({
      code: "TSM_ERR_CONFIG_SETTING",
      message: `${path}:5:5: the key "port" is written a second time in its object (first at 3:5), and only this one would count: keep one`,
    });
    // Inside a list's objects too; the same key in two objects is no duplicate.
    const listed = await file("listed.json", '{"a": [{"x": 1}, {"x": 2, "y": [1, {"z": 1, "z": 2}]}], "b": {"x": 1}}');
    expect((await failure(listed)).message).toContain(
      `${listed}:1:45: the key "z" is written a second time in its object (first at 1:37)`,
    );
    const fine = await file(
      "fine.json",
      '{"a": {"x": 1}, "b": {"x": "{\\"x\\": 1, \\"x\\": 2}"}, "c": [{"x": 1}, {"x": 2}]}',
    );
    expect(await fileSource(fine).read()).toEqual({
      a: { x: 1 },
      b: { x: '{"x": 1, "x": 2}' },
      c: [{ x: 1 }, { x: 2 }],
    });
  });

  it("names the file, line and column of a YAML mistake", async () => {
    // The value of url turns into a mapping by the over-indented line below it, which YAML forbids there.
    const path = await file("bad.yaml", "database:\n  url: postgres://db\n   port: 5432\n");
    const { code, message } = await failure(path);
    expect(code).toBe("TSM_ERR_CONFIG_YAML");
    expect(message).toBe(`${path}:2:8: not valid YAML: Nested mappings are not allowed in compact mappings`);
    const duplicate = await failure(await file("dup.yaml", "port: 1\nport: 2\n"));
    expect(duplicate.message).toMatch(/dup\.yaml:2:1: not valid YAML: Map keys must be unique/);
  });

  it("locates a key at its line and column in the text last read, through aliases to where it is written", async () => {
    const path = await file(
      "located.yaml",
      [
        "\uFEFFshared: &shared",
        "  host: db",
        "  'odd key: #1': x",
        "primary: *shared",
        "ports:",
        "  - 80",
        "  - { name: https, numbr: 443 }",
        "1: one",
      ].join("\n"),
    );
    const source = fileSource(path);
    // Before a read there is no text to point into.
    expect(source.locate?.(["shared"])).toBe(`file ${path}`);
    await source.read();
    expect(source.locate?.(["shared", "host"])).toBe(`${path}:2:3`);
    expect(source.locate?.(["shared", "odd key: #1"])).toBe(`${path}:3:3`);
    // A key reached through an alias is where it is written, under the anchor.
    expect(source.locate?.(["primary", "host"])).toBe(`${path}:2:3`);
    expect(source.locate?.(["ports"], ["1", "numbr"])).toBe(`${path}:7:20`);
    expect(source.locate?.(["ports", "0"])).toBe(`${path}:6:5`);
    expect(source.locate?.(["1"])).toBe(`${path}:8:1`);
    // A key not written: its deepest parent that is, else the file.
    expect(source.locate?.(["shared", "port"])).toBe(`${path}:1:1`);
    expect(source.locate?.(["name"])).toBe(`file ${path}`);

    await writeFile(path, "# edited\nshared:\n\n  host: db\n");
    await source.read();
    expect(source.locate?.(["shared", "host"])).toBe(`${path}:4:3`);
    const optional = fileSource(join(dir, "absent.json"), { optional: true });
    await optional.read();
    expect(optional.locate?.(["a"])).toBe(`file ${join(dir, "absent.json")}`);
  });

  it("merges maps by merge keys, and locates a merged key where it is written", async () => {
    const path = await file(
      "merged.yaml",
      [
        "defaults: &defaults",
        "  host: db",
        "  tiemout: 5",
        "primary:",
        "  <<: *defaults",
        "  host: primary",
        "replica:",
        "  <<: [{ port: 2 }, *defaults]",
        "  name: r",
      ].join("\n"),
    );
    const source = fileSource(path);
    expect(await source.read()).toEqual({
      defaults: { host: "db", tiemout: 5 },
      primary: { host: "primary", tiemout: 5 },
      replica: { port: 2, host: "db", tiemout: 5, name: "r" },
    });
    // The key's own line wins over a merged one's, as its value does.
    expect(source.locate?.(["primary", "host"])).toBe(`${path}:6:3`);
    expect(source.locate?.(["primary", "tiemout"])).toBe(`${path}:3:3`);
    expect(source.locate?.(["replica", "port"])).toBe(`${path}:8:10`);
    expect(source.locate?.(["replica", "host"])).toBe(`${path}:2:3`);
    const bad = await failure(await file("bad-merge.yaml", "a:\n  x: 1\nb:\n  <<: 5\n"));
    expect(bad.message).toMatch(
      /bad-merge\.yaml:4:3: not valid YAML: a merge key \(<<\) must name a mapping or a list of mappings, such as <<: \*defaults$/,
    );
    const itself = await failure(await file("self-merge.yaml", "a: &a\n  x: 1\n  <<: *a\n"));
    expect(itself).toMatchObject({ code: "TSM_ERR_CONFIG_YAML" });
    expect(itself.message).toMatch(
      /self-merge\.yaml:3:3: not valid YAML: this merge key \(<<\) names a mapping that holds it, so the setting would hold itself without end; write the value out instead$/,
    );
    // Merged deeper down, or in a list of maps: the merge key that closes the circle is named.
    const below = await failure(await file("merge-below.yaml", "a: &a\n  x: 1\n  b:\n    <<: *a\n"));
    expect(below.message).toMatch(/merge-below\.yaml:4:5: not valid YAML: this merge key \(<<\) names a mapping/);
    const aboveAnchor = await failure(await file("alias-above.yaml", "a:\n  b: *c\nc: &c\n  x: 1\n"));
    expect(aboveAnchor.message).toMatch(
      /alias-above\.yaml:2:6: not valid YAML: \*c names no anchor set before it: set &c above this alias$/,
    );
    const listed = await failure(await file("merge-listed.yaml", "d: &d {y: 2}\na: &a\n  b: {<<: [*d, *a]}\n"));
    expect(listed.message).toMatch(/merge-listed\.yaml:3:7: not valid YAML: this merge key \(<<\) names a mapping/);
  });

  it("refuses a YAML alias inside its own anchor's value, naming where, rather than a setting that holds itself", async () => {
    const path = await file("circular.yaml", "port: 80\nhttp: &http\n  port: 8080\n  again: *http\n");
    expect(await failure(path)).toEqual({
      code: "TSM_ERR_CONFIG_SETTING",
      message: `${path}:4:3: http.again is an alias of a value that holds it, so the setting would hold itself without end; write the value out instead`,
    });
    // An alias of a value elsewhere is no cycle, however often it is used.
    const shared = await file("shared.yaml", "base: &base\n  port: 1\na: *base\nb:\n  c: *base\n");
    expect(await fileSource(shared).read()).toEqual({ base: { port: 1 }, a: { port: 1 }, b: { c: { port: 1 } } });
  });

  it("refuses a missing file named explicitly, unless optional, and a top level that is not settings", async () => {
    const missing = join(dir, "missing.yaml");
    expect(await failure(missing)).toEqual({
      code: "TSM_ERR_CONFIG_FILE",
      message: `cannot read ${missing}: the file does not exist; create it, or mark the source optional`,
    });
    expect(await fileSource(missing, { optional: true }).read()).toEqual({});
    expect((await failure(await file("list.yaml", "- a\n- b\n"))).message).toMatch(
      /list\.yaml: the top level must be an object of settings \(key: value\), not a list/,
    );
    // Not when the source is made, before the code's .catch(service.fatal): when it is read.
    const toml = fileSource(join(dir, "config.toml"));
    await expect(toml.read()).rejects.toThrow(/config\.toml: unknown format; name the file .json, .yaml or .yml/);
  });

  it("with watch, reports an edit of the file", async () => {
    const path = await file("live.yaml", "port: 1\n");
    const trees: ConfigTree[] = [];
    const source = fileSource(path, { watch: true });
    const watch = await source.watch!({ changed: (tree) => trees.push(tree), failed: () => undefined });
    expect(watch.initial).toEqual({ port: 1 });
    await writeFile(path, "port: 2\n");
    const deadline = Date.now() + 3_000;
    while (trees.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await watch.close();
    expect(trees.at(-1)).toEqual({ port: 2 });
  });
});
