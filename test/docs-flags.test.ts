/**
 * The README, docs/, the examples' READMEs and the README a new project gets
 * name flags, variables, commands, scripts and pages; each must exist as
 * spelt, or a user copying it gets "unknown flag". The flags are taken from
 * the code (the runtime's flag tables) and from the CLI's own `--help`, so
 * a renamed flag fails here until the docs follow.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { dashboardFlagNames } from "../runtime/gateway/src/dashboard/dashboard-settings.js";
import { gatewayFlagNames } from "../runtime/gateway/src/gateway-settings.js";
import { runtimeFlagNames, runtimeFlagUsage } from "../runtime/src/service/flag-names.js";
import { serviceHelp } from "../runtime/src/service/service-help.js";
import { bins, repoRoot, run } from "./support/cli.js";

/** Flags of other programs the docs show (npm, node, protoc, curl…), and the demo script's own. */
const otherPrograms: Readonly<Record<string, string>> = {
  check: "prettier --check",
  data: "curl --data",
  "data-dir": "etcd --data-dir",
  "from-literal": "kubectl create secret --from-literal",
  import: "node --import tsx",
  "max-semi-space-size": "node --max-semi-space-size",
  time: "unshare --time (a time namespace)",
  storage: "prometheus --storage.tsdb.path",
  web: "prometheus --web.listen-address",
  omit: "npm ci --omit=dev",
  workspaces: "npm ci --workspaces=false",
  plugin: "protoc --plugin",
  tsmicro_out: "protoc --tsmicro_out",
  tsmicro_opt: "protoc --tsmicro_opt",
  once: "npm run demo -- --once (examples/system/demo.ts)",
  port: "npm run demo -- --port (examples/system/demo.ts)",
  name: "the README's --name=value, the form of any flag",
};

/** Misspellings the docs show being refused (TSM_ERR_FLAG_UNKNOWN): they must stay unknown. */
const slips = ["adress", "registy", "registry-address"];

/** `TSMICRO_*` variables that are no flag's: the test suite's own. */
const suiteVariables = ["REQUIRE_SERVERS"];

/** The commands `tsmicro <words> --help` describes, by the words a doc writes after `tsmicro`. */
const helpWords: Readonly<Record<string, readonly string[]>> = {
  generate: ["generate"],
  template: ["template", "init"],
  new: ["new"],
  routes: ["routes"],
  api: ["api"],
  run: ["run"],
  dev: ["dev"],
  web: ["web"],
  config: ["config", "import"],
  list: ["list", "services"],
  get: ["get", "service"],
  call: ["call"],
  health: ["health"],
  "prometheus-targets": ["prometheus-targets"],
};

/** Commands whose other flags go to a service (run, dev), or that take a service's flags too (api, web). */
const takesServiceFlags = new Set(["api", "web", "run", "dev"]);

/** The words a command needs after its first (`tsmicro config get`), from the top-level help. */
const subcommands: Readonly<Record<string, readonly string[]>> = {
  template: ["init", "revert"],
  config: ["get", "set", "del", "watch", "import"],
  list: ["services"],
  get: ["service"],
};

/** One doc: its path from the repository root and its text. */
interface Doc {
  readonly path: string;
  readonly text: string;
}

/** The Markdown a user reads: README.md, docs/*.md, the examples' READMEs, the scaffolded projects'. */
async function userDocs(): Promise<Doc[]> {
  const docs = (await readdir(join(repoRoot, "docs"))).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`);
  const paths = [
    "README.md",
    ...docs,
    ...(await filesUnder("examples", (name) => /^README\.md$/i.test(name))),
    ...(await filesUnder("templates/project", (name) => name === "README.md.ejs")),
  ];
  return Promise.all(paths.map(async (path) => ({ path, text: await readFile(join(repoRoot, path), "utf8") })));
}

/** The package.json files whose scripts the docs run (`npm run X`), the scaffolded projects' among them. */
async function packageFiles(): Promise<Doc[]> {
  const paths = [
    "package.json",
    ...(await filesUnder("examples", (name) => name === "package.json")),
    ...(await filesUnder("templates/project", (name) => name === "package.json.ejs")),
  ];
  return Promise.all(paths.map(async (path) => ({ path, text: await readFile(join(repoRoot, path), "utf8") })));
}

/** Files under `dir` (from the repository root) whose name passes `keep`, outside node_modules and build output. */
async function filesUnder(dir: string, keep: (name: string) => boolean): Promise<string[]> {
  const entries = await readdir(join(repoRoot, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && keep(e.name))
    .map((e) => relative(repoRoot, join(e.parentPath, e.name)))
    .filter((path) => !/(^|\/)(node_modules|dist|\.demo)\//.test(path))
    .sort();
}

/**
 * The lines of `text`, a shell line continued with `\` read as one, so a flag on the next line is still the
 * command's; the lines it took are left empty, so an index is still the line's number less one.
 */
function joinedLines(text: string): string[] {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    while ((lines[start] as string).endsWith("\\") && i + 1 < lines.length) {
      i++;
      lines[start] = `${(lines[start] as string).slice(0, -1)} ${(lines[i] as string).trimStart()}`;
      lines[i] = "";
    }
  }
  return lines;
}

/** Each `--flag` the text names, with `*` when it names a family (`--client_*`, `--breaker*`). */
function namedFlags(text: string): { name: string; family: boolean }[] {
  return [...text.matchAll(/(?<![\w-])--([a-z][a-z0-9_-]*)(\*)?/g)].map((m) => ({
    name: m[1] as string,
    family: m[2] !== undefined,
  }));
}

/** The flags a `--help` lists (its option lines, not its prose), booleans also as `no-NAME`, as yargs reads them. */
function helpFlags(help: string): string[] {
  const blocks = help.split(/\n(?= {2}--)/).filter((block) => /^ {2}--/.test(block));
  return blocks.flatMap((block) => {
    const name = (block.match(/^ {2}--([a-z][\w-]*)/) as RegExpMatchArray)[1] as string;
    return /\[boolean\]/.test(block) ? [name, `no-${name}`] : [name];
  });
}

/** `tsmicro <words> --help` (or create-tsmicro's), which must succeed. */
async function helpText(program: string, words: readonly string[]): Promise<string> {
  const result = await run("node", [program, ...words, "--help"]);
  expect(result.code, `${words.join(" ")} --help: ${result.stderr}`).toBe(0);
  return result.stdout;
}

/** Each invocation of tsmicro (or create-tsmicro) in a line: its command and what follows up to the end of the code. */
function invocations(line: string): { command: string; rest: string }[] {
  return [...line.matchAll(/(?<![\w@/.-])(?:create-tsmicro(?= )|tsmicro ([a-z][a-z-]*))([^`|;#)&<\n]*)/g)].map((m) => ({
    command: m[1] ?? "create-tsmicro",
    rest: m[2] as string,
  }));
}

/** The heading anchors of a Markdown file, as GitHub makes them. */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inCode = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("```")) inCode = !inCode;
    const heading = inCode ? null : line.match(/^#{1,6}\s+(.*)$/);
    if (!heading) continue;
    const slug = (heading[1] as string)
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** The part of `text` under the `##` heading `title`, up to the next `##`. */
function section(text: string, title: string): string {
  const start = text.indexOf(`\n## ${title}`);
  if (start === -1) return "";
  const end = text.indexOf("\n## ", start + 4);
  return text.slice(start, end === -1 ? undefined : end);
}

describe("the docs name flags, variables, commands, scripts and pages as the code spells them", () => {
  let docs: Doc[] = [];
  /** The flags each command takes, by its first word (and create-tsmicro). */
  const flagsOf = new Map<string, Set<string>>();
  const helps = new Map<string, string>();
  let commands: string[] = [];

  beforeAll(async () => {
    docs = await userDocs();
    const createTsmicro = join(repoRoot, "dist/bin/create-tsmicro.js");
    // Independent --help runs side by side: each CLI start costs a second on a busy machine.
    const [top, create, ...each] = await Promise.all([
      helpText(bins.tsmicro, []),
      helpText(createTsmicro, []),
      ...Object.values(helpWords).map((words) => helpText(bins.tsmicro, words)),
    ]);
    commands = [...(top as string).matchAll(/^ {2}tsmicro ([a-z][a-z-]*)/gm)].map((m) => m[1] as string);
    flagsOf.set("create-tsmicro", new Set(helpFlags(create as string)));
    Object.keys(helpWords).forEach((command, i) => {
      const help = each[i] as string;
      helps.set(command, help);
      const own = helpFlags(help);
      flagsOf.set(command, new Set(takesServiceFlags.has(command) ? [...own, ...runtimeFlagNames] : own));
    });
  });

  it("every command with flags is asked for its --help, and every command named in code exists", () => {
    expect(new Set(commands)).toEqual(new Set(Object.keys(helpWords)));
    const unknown: string[] = [];
    for (const doc of docs) {
      let inBlock = false;
      joinedLines(doc.text).forEach((line, i) => {
        if (line.startsWith("```")) inBlock = !inBlock;
        // In code only (a `span`, or a command in a code block): prose says "tsmicro keeps" and "tsmicro is".
        const spans = [...line.matchAll(/`(?:npx )?tsmicro ([a-z][\w-]*)(?: ([a-z][\w-]*))?/g)];
        const command = /(?:^\s*|&&\s*|;\s*)(?:npx )?tsmicro ([a-z][\w-]*)(?: ([a-z][\w-]*))?/g;
        const shell = inBlock ? [...line.matchAll(command)] : [];
        for (const [text, first, second] of [...spans, ...shell]) {
          const needs = subcommands[first as string];
          const ok = commands.includes(first as string) && (!needs || second === undefined || needs.includes(second));
          if (!ok) unknown.push(`${doc.path}:${i + 1}: ${text}`);
        }
      });
    }
    expect(unknown).toEqual([]);
  });

  it("every --flag the docs name is a flag of tsmicro, a service, the gateway, create-tsmicro, or another program", () => {
    const known = new Set([...flagsOf.values()].flatMap((flags) => [...flags]));
    for (const slip of slips) expect(known.has(slip), `--${slip} is shown as a misspelling`).toBe(false);
    const unknown: string[] = [];
    for (const doc of docs) {
      joinedLines(doc.text).forEach((line, i) => {
        for (const { name, family } of namedFlags(line)) {
          const found = family ? [...known].some((flag) => flag.startsWith(name)) : known.has(name);
          if (!found && !(name in otherPrograms) && !slips.includes(name))
            unknown.push(`${doc.path}:${i + 1}: --${name}${family ? "*" : ""}`);
        }
      });
    }
    expect(unknown).toEqual([]);
  });

  it("a flag written after a command, in the docs or a package.json script, is one that command takes", async () => {
    const misplaced: string[] = [];
    for (const doc of [...docs, ...(await packageFiles())]) {
      joinedLines(doc.text).forEach((line, i) => {
        for (const { command, rest } of invocations(line)) {
          const flags = flagsOf.get(command);
          if (!flags) continue;
          for (const { name, family } of namedFlags(rest)) {
            const found = family ? [...flags].some((flag) => flag.startsWith(name)) : flags.has(name);
            if (!found) misplaced.push(`${doc.path}:${i + 1}: ${command} --${name}`);
          }
        }
      });
    }
    expect(misplaced).toEqual([]);
  });

  it("every flag a tsmicro --help lists says what it does", () => {
    const bare: string[] = [];
    for (const [command, help] of helps) {
      for (const block of help.split(/\n(?= {2}--)/).filter((text) => /^ {2}--/.test(text))) {
        const said = block.replace(/^ {2}--[\w-]+/, "").replace(/\[[^\]]*\]/g, "");
        if (said.trim() === "") bare.push(`${command}: ${block.trim().split(/\s/)[0]}`);
      }
    }
    expect(bare).toEqual([]);
  });

  it("every TSMICRO_* and MICRO_* variable the docs name is a flag's", () => {
    const flags = new Set([...runtimeFlagNames, ...gatewayFlagNames, ...dashboardFlagNames]);
    const unknown: string[] = [];
    for (const doc of docs) {
      for (const m of doc.text.matchAll(/\b(?:TSMICRO|MICRO)_([A-Z0-9_]*[A-Z0-9])\b/g)) {
        const name = m[1] as string;
        if (!flags.has(name.toLowerCase()) && !suiteVariables.includes(name)) unknown.push(`${doc.path}: ${m[0]}`);
      }
    }
    expect(unknown).toEqual([]);
  });

  it("every npm run script the docs name is one of the repository's, an example's or a new project's", async () => {
    const scripts = new Set<string>();
    for (const file of await packageFiles()) {
      const block = file.text.match(/"scripts"\s*:\s*\{([\s\S]*?)\}/)?.[1] ?? "";
      for (const m of block.matchAll(/"([^"]+)"\s*:/g)) scripts.add(m[1] as string);
    }
    const unknown = docs.flatMap((doc) =>
      [...doc.text.matchAll(/npm run ([a-z][\w:-]*)/g)]
        .filter((m) => !scripts.has(m[1] as string))
        .map((m) => `${doc.path}: ${m[0]}`),
    );
    expect(unknown).toEqual([]);
  });

  it("every link between docs reaches a file, and its #anchor a heading there", async () => {
    const broken: string[] = [];
    for (const doc of docs) {
      for (const m of doc.text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1] as string;
        if (/^[a-z]+:/.test(target)) continue;
        const [path, anchor] = target.split("#");
        const file = path ? resolve(repoRoot, dirname(doc.path), path) : join(repoRoot, doc.path);
        if (!existsSync(file)) broken.push(`${doc.path}: ${target} (no such file)`);
        else if (anchor !== undefined && file.endsWith(".md") && !anchorsOf(await readFile(file, "utf8")).has(anchor))
          broken.push(`${doc.path}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it("a service's --help sends each flag to a page that describes it", async () => {
    let page = "";
    const missing: string[] = [];
    for (const line of serviceHelp("greeter", runtimeFlagUsage).split("\n")) {
      const heading = line.match(/^\S.*\((.+)\):$/);
      if (heading) page = heading[1] as string;
      const flag = line.match(/^ {2}--([a-z_]+)/)?.[1];
      if (!flag) continue;
      // A page is a file, or a README section: README.md, "The database".
      const [file, title] = page.split(/, "|"$/);
      const text = await readFile(join(repoRoot, file as string), "utf8");
      const body = title ? section(text, title) : text;
      if (!new RegExp(`--${flag}(?![\\w-])`).test(body)) missing.push(`--${flag} in ${page}`);
    }
    expect(missing).toEqual([]);
  });

  it("tsmicro api --help and docs/gateway.md's flag table list every flag of the gateway and dashboard", async () => {
    const table = section(await readFile(join(repoRoot, "docs/gateway.md"), "utf8"), "Flags");
    const api = new Set(helpFlags(helps.get("api") as string));
    const web = new Set(helpFlags(helps.get("web") as string));
    for (const flag of [...gatewayFlagNames, ...dashboardFlagNames]) {
      expect(api.has(flag), `--${flag} in tsmicro api --help`).toBe(true);
      expect(table, `--${flag} in docs/gateway.md`).toMatch(new RegExp(`\`--${flag}\``));
    }
    for (const flag of [...dashboardFlagNames, "address"]) expect(web.has(flag), `--${flag} in web --help`).toBe(true);
  });

  it("docs/errors.md names every flag whose address TSM_ERR_ADDRESS_IN_USE can name", async () => {
    const sources = [
      ...(await filesUnder("runtime/src", (name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))),
      ...(await filesUnder("runtime/gateway/src", (name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))),
    ];
    const flags = new Set<string>();
    for (const path of sources) {
      const text = await readFile(join(repoRoot, path), "utf8");
      for (const m of text.matchAll(/(?:listenError|ensureCanListen)\([^)]*?"--([a-z_]+)"/g)) flags.add(m[1] as string);
    }
    expect(flags.size).toBeGreaterThan(0);
    const row = (await readFile(join(repoRoot, "docs/errors.md"), "utf8"))
      .split("\n")
      .find((line) => line.startsWith("| `TSM_ERR_ADDRESS_IN_USE` |"));
    for (const flag of flags) expect(row, `--${flag}`).toContain(`\`--${flag}\``);
  });

  it("a flag's default in a docs table is the one a service's --help prints", () => {
    const differ: string[] = [];
    for (const doc of docs) {
      let header: string[] = [];
      for (const line of doc.text.split("\n")) {
        if (!line.startsWith("|")) {
          header = [];
          continue;
        }
        const cells = line
          .split(/(?<!\\)\|/)
          .slice(1, -1)
          .map((cell) => cell.trim());
        if (header.length === 0) header = cells;
        const flag = cells[0]?.match(/^`--([a-z_]+)`$/)?.[1];
        const at = header.indexOf("default");
        // Only tables of a service's flags: `tsmicro config`'s has its own defaults.
        if (!flag || at === -1 || header[0] !== "flag" || !(flag in runtimeFlagUsage)) continue;
        const given = cells[at]?.match(/^`([^`]+)`/)?.[1] ?? (cells[at] === "" ? undefined : null);
        const code = runtimeFlagUsage[flag]?.default?.split(", ")[0];
        if (given !== null && given !== code) differ.push(`${doc.path}: --${flag} ${given} (code: ${code})`);
      }
    }
    expect(differ).toEqual([]);
  });
});
