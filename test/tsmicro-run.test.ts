import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bins, repoRoot, run as runToEnd } from "./support/cli.js";

// tsmicro run on a workspace whose services are plain scripts, and tsmicro dev (a service's
// npm run dev) on a TypeScript one (the scaffolded ones are run in test/scaffold*.test.ts).
let root = "";

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "tsmicro-run-"));
  await writeFile(join(root, "tsmicro.json"), JSON.stringify({ workspace: true }));
  const service = async (name: string, code: string) => {
    const dir = join(root, "services", name);
    await mkdir(join(dir, "node_modules", ".bin"), { recursive: true });
    await writeFile(join(dir, "main.cjs"), code);
    await writeFile(join(dir, "package.json"), JSON.stringify({ name, scripts: { dev: "node main.cjs" } }));
  };
  await service(
    "polite",
    "console.log('up'); process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000);",
  );
  // A service that prints the flags it was given and ends: a run of it alone ends too.
  await service("echo", "console.log(JSON.stringify(process.argv.slice(2)));");
  // A service that ignores SIGTERM, as tsx can hang after its child died.
  await service("stuck", "console.log('up'); process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);");
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** Whether a process with this id is running. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Saves a file as an editor does, all at once: an asynchronous writeFile's create and write can
 * reach tsmicro dev as two changes far enough apart, on a busy machine, to restart the service twice.
 */
function save(path: string, text: string): void {
  writeFileSync(path, text);
}

/**
 * `tsmicro run` (or another command) in `cwd`: its output so far (stdout and stderr), its exit code,
 * and a wait for lines to appear. `prefix` runs it under another program that execs it (unshare).
 */
function tsmicroRun(
  cwd: string,
  args: readonly string[] = ["run"],
  env: NodeJS.ProcessEnv = process.env,
  prefix: readonly string[] = [],
) {
  const command = [...prefix, process.execPath, bins.tsmicro, ...args];
  const run = spawn(command[0]!, command.slice(1), { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  run.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  run.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => run.once("exit", (code) => resolve(code)));
  const until = async (...texts: (string | RegExp)[]) => {
    const seen = (text: string | RegExp) => (typeof text === "string" ? output.includes(text) : text.test(output));
    for (let i = 0; i < 150 && !texts.every(seen); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  };
  /** Kills the run and every service it printed as `up PID` still running: on a failure, they would outlive the test. */
  const killAll = () => {
    run.kill("SIGKILL");
    for (const [, pid] of output.matchAll(/up (\d+)/g)) if (alive(Number(pid))) process.kill(Number(pid), "SIGKILL");
  };
  return { run, output: () => output, exited, until, killAll };
}

describe("tsmicro run", () => {
  it("passes flags to every service, before -- or after it, a flag's value given as its own word too", async () => {
    // -1 (no limit) is a value, not a flag.
    const args = ["run", "echo", "--registry", "etcd", "--server_max_recv_msg_size", "-1", "--client_retries=2"];
    const result = await runToEnd("node", [bins.tsmicro, ...args, "--own", "--", "--broker", "nats"], { cwd: root });
    expect(result.stderr).toBe("echo | stopped: exited\n");
    expect(result.stdout).toBe(
      'echo | ["--registry","etcd","--server_max_recv_msg_size","-1","--client_retries=2","--own","--broker","nats"]\n',
    );
    expect(result.code).toBe(0);
  });

  it("refuses a misspelt flag or one without its value in one line, before any service starts", async () => {
    const noValue = "--registry has an invalid value (none): give it a value, as --registry=VALUE";
    for (const [flags, message] of [
      [["--registy=etcd"], "unknown flag --registy: did you mean --registry?"],
      [["--registry"], noValue],
      // The next word is another flag, not the value.
      [["--registry", "--log_level=debug"], noValue],
      // After --, as the services would read it.
      [["--", "--registry", "--log_level=debug"], noValue],
      // A bad value, read with the services' own tables, is refused once rather than by each.
      [["--registry", "bogus"], '--registry has an invalid value "bogus": use one of local, etcd, memory'],
      [["--broker_jetstream", "maybe"], '--broker_jetstream has an invalid value "maybe": use on or off'],
      [
        ["--registry=etcd", "--registry_address=127.0.0.1:notaport"],
        '--registry_address has an invalid value "127.0.0.1:notaport": use host:port, such as 127.0.0.1:2379 or http://etcd-1:2379, or a host alone for port 2379',
      ],
      // Flags that each read well but do not go together, as the services would refuse them.
      [
        ["--broker_jetstream=on"],
        "--broker_jetstream has an invalid value on: JetStream is NATS's, and the broker is http (at most once): add --broker nats, or turn --broker_jetstream off",
      ],
      [["--", "--breaker_buckets=0"], '--breaker_buckets has an invalid value "0": expected a whole number >= 1'],
      // The value is a service: an on/off flag written as a switch.
      [
        ["--migrate", "polite"],
        '--migrate has an invalid value "polite": use on or off; to start the service polite, write --migrate=on polite',
      ],
      [
        ["--registry", "polite"],
        '--registry has an invalid value "polite": use one of local, etcd, memory; to start the service polite, write --registry=VALUE polite',
      ],
      [["--address=:8080"], "unknown flag --address: did you mean --server_address? (--address is tsmicro api's)"],
      // A flag of the user's own, whose value run cannot tell from a service's name.
      [
        ["--seed", "5"],
        "no service 5 here: the services are echo, polite, stuck; if 5 is --seed's value, write --seed=5",
      ],
    ] as const) {
      const result = await runToEnd("node", [bins.tsmicro, "run", "echo", ...flags], { cwd: root });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe(`tsmicro: ${message}\n`);
    }
  });

  it("refuses a bad TSMICRO_* variable once, before any service starts", async () => {
    const result = await runToEnd("env", ["TSMICRO_MIGRATE=maybe", "node", bins.tsmicro, "run", "echo"], { cwd: root });
    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr: 'tsmicro: TSMICRO_MIGRATE has an invalid value "maybe": use on or off\n',
    });
  });

  it("kills what has not stopped within the services' --shutdown_grace and 5 s after Ctrl-C, saying so, and exits 130", async () => {
    // 15 s at least: a grace this long gets 16.
    const { run, output, exited, until } = tsmicroRun(root, ["run", "--shutdown_grace=11s"]);
    try {
      await until("polite | up", "stuck  | up");
      expect(output()).toContain("stuck  | up");
      run.kill("SIGINT");
      expect(await exited).toBe(130);
      expect(output()).toContain("stopping every service (Ctrl-C again to kill)");
      expect(output()).toContain("1 still running after 16 s: killed");
    } finally {
      run.kill("SIGKILL");
    }
  }, 40_000);

  it("says when a service ends on its own, crashed or killed, and runs the others on", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-run-ends-"));
    try {
      await writeFile(join(dir, "tsmicro.json"), JSON.stringify({ workspace: true }));
      const service = async (name: string, code: string) => {
        await mkdir(join(dir, "services", name, "node_modules", ".bin"), { recursive: true });
        await writeFile(join(dir, "services", name, "main.cjs"), code);
        const pkg = { name, scripts: { dev: "node main.cjs" } };
        await writeFile(join(dir, "services", name, "package.json"), JSON.stringify(pkg));
      };
      await service("crash", "console.log('up'); setTimeout(() => process.exit(3), 300);");
      await service("killed", "console.log('up'); setTimeout(() => process.kill(process.pid, 'SIGKILL'), 300);");
      await service("polite", "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000);");
      const { run, output, exited, until } = tsmicroRun(dir);
      try {
        await until("crash  | stopped", "killed | stopped");
        expect(output()).toContain("crash  | stopped: exited with code 3");
        expect(output()).toContain("killed | stopped: killed by SIGKILL");
        expect(run.exitCode).toBeNull();
        run.kill("SIGINT");
        // Two of its services failed on their own.
        expect(await exited).toBe(1);
        expect(output()).not.toContain("polite | stopped");
      } finally {
        run.kill("SIGKILL");
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 40_000);

  it("stops every service when what reads its output goes away (npm run dev | less, then q)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-run-pipe-"));
    const pidFile = join(dir, "chatty.pid");
    try {
      await writeFile(join(dir, "tsmicro.json"), JSON.stringify({ workspace: true }));
      await mkdir(join(dir, "services", "chatty", "node_modules", ".bin"), { recursive: true });
      const code =
        `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));` +
        // As pino does, it outlives a closed stdout: only a stop ends it.
        "process.stdout.on('error', () => {}); process.on('SIGTERM', () => process.exit(0));" +
        "setInterval(() => console.log('tick'), 20);";
      await writeFile(join(dir, "services", "chatty", "main.cjs"), code);
      const pkg = { name: "chatty", scripts: { dev: "node main.cjs" } };
      await writeFile(join(dir, "services", "chatty", "package.json"), JSON.stringify(pkg));
      const { run, exited, until } = tsmicroRun(dir);
      let pid = 0;
      try {
        await until("chatty | tick");
        pid = Number(await readFile(pidFile, "utf8"));
        // The reader quits: the pipe's read end closes, and the next line tsmicro run writes fails.
        run.stdout.destroy();
        await exited;
        for (let i = 0; i < 100 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
        expect(alive(pid)).toBe(false);
      } finally {
        run.kill("SIGKILL");
        // Without the fix the service runs on, orphaned: end it here.
        if (pid && alive(pid)) process.kill(pid, "SIGKILL");
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 40_000);
});

/** Makes the service of typeScriptService print `up PID GREETING`, GREETING imported from ../shared/greeting.ts, outside src/. */
async function printGreeting(project: string): Promise<void> {
  const main = join(project, "src", "main.ts");
  await writeFile(
    main,
    (await readFile(main, "utf8"))
      .replace('console.log("up " + pid);', 'console.log("up " + pid + " " + greeting);')
      .replace(/^/, 'import { greeting } from "../shared/greeting.ts";\n'),
  );
}

/**
 * A TypeScript service for tsmicro dev, in `dir`: it writes its pid to service.pid (outside src/,
 * which tsmicro dev watches), says `up PID`, and on SIGTERM or SIGINT says `down PID` and exits.
 */
async function typeScriptService(dir: string): Promise<void> {
  await mkdir(join(dir, "src"), { recursive: true });
  await mkdir(join(dir, "node_modules"), { recursive: true });
  // tsmicro dev runs it with tsx's loader, found from the folder as a project's own.
  await symlink(join(repoRoot, "node_modules", "tsx"), join(dir, "node_modules", "tsx"));
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "ts", type: "module" }));
  await writeFile(
    join(dir, "src", "main.ts"),
    [
      'import { writeFileSync } from "node:fs";',
      "const pid: number = process.pid;",
      'writeFileSync("service.pid", String(pid));',
      'console.log("up " + pid);',
      'const down = () => { console.log("down " + pid); process.exit(0); };',
      'process.on("SIGTERM", down);',
      'process.on("SIGINT", down);',
      "setInterval(() => {}, 1000);",
      "",
    ].join("\n"),
  );
}

/** A service that ignores SIGTERM, as one whose stop hangs does, saying so. */
const stubbornService = [
  "const pid = process.pid;",
  'console.log("up " + pid);',
  'process.on("SIGTERM", () => console.log("ignoring " + pid));',
  "setInterval(() => {}, 1000);",
  "",
].join("\n");

describe("tsmicro dev", () => {
  let dir = "";
  /** Its own runtime folder (where dev locks live), as every helper and test keeps its own. */
  let env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-dev-"));
    await mkdir(join(dir, "runtime"));
    env = { ...process.env, XDG_RUNTIME_DIR: join(dir, "runtime") };
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The pid the service last wrote. */
  const servicePid = async (project: string) => Number(await readFile(join(project, "service.pid"), "utf8"));

  it("starts a service killed by a signal again, saying so, restarts it on a change, and stops it on Ctrl-C", async () => {
    const project = join(dir, "killed");
    await typeScriptService(project);
    const dev = tsmicroRun(project, ["dev", "src/main.ts", "--log_format=pretty"], env);
    try {
      await dev.until(/up \d+/);
      const first = await servicePid(project);
      expect(dev.output()).toContain(`up ${first}`);
      // A user testing failure: kill -9 on the service.
      process.kill(first, "SIGKILL");
      await dev.until("killed by SIGKILL", /up \d+[\s\S]*up \d+/);
      expect(dev.output()).toContain("[tsmicro dev] the service was killed by SIGKILL: starting it again in 1 s");
      const second = await servicePid(project);
      expect(second).not.toBe(first);
      expect(dev.output()).toContain(`up ${second}`);
      expect(alive(second)).toBe(true);

      // A save restarts it: stopped with SIGTERM (so it deregisters), then started again.
      save(join(project, "src", "more.ts"), "export const more = 1;\n");
      await dev.until(`down ${second}`, /up \d+[\s\S]*up \d+[\s\S]*up \d+/);
      expect(dev.output()).toContain("[tsmicro dev] src/more.ts changed: restarting");
      const third = await servicePid(project);
      expect(third).not.toBe(second);

      dev.run.kill("SIGINT");
      expect(await dev.exited, dev.output()).toBe(0);
      expect(dev.output()).toContain(`down ${third}`);
      expect(alive(third)).toBe(false);
    } finally {
      dev.run.kill("SIGKILL");
    }
  }, 40_000);

  it("restarts on every save of a file an editor saves by renaming a copy over it, not the first alone", async () => {
    const project = join(dir, "renamed");
    await typeScriptService(project);
    await mkdir(join(project, "src", "lib"));
    await writeFile(join(project, "src", "lib", "util.ts"), "export const util = 0;\n");
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until(/up \d+/);
      // As vim, JetBrains' safe write or sed -i save: a new file, renamed over the old one.
      for (let save = 1; save <= 3; save++) {
        const before = await servicePid(project);
        const copy = join(project, "src", "lib", "util.ts.tmp");
        await writeFile(copy, `export const util = ${save};\n`);
        await rename(copy, join(project, "src", "lib", "util.ts"));
        await dev.until(`down ${before}`, new RegExp(`(up \\d+[\\s\\S]*){${save + 1}}`));
        expect(dev.output()).toContain(`down ${before}`);
      }
      expect(dev.output().split("[tsmicro dev] src/lib/util.ts changed: restarting").length - 1).toBe(3);
      dev.run.kill("SIGTERM");
      expect(await dev.exited, dev.output()).toBe(0);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("restarts on a change of a file the service imports from outside its entry's folder, as tsx watch did", async () => {
    const project = join(dir, "shared");
    await typeScriptService(project);
    await mkdir(join(project, "shared"));
    const greeting = join(project, "shared", "greeting.ts");
    await writeFile(greeting, 'export const greeting: string = "one";\n');
    await printGreeting(project);
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until(/up \d+ one/);
      save(greeting, 'export const greeting: string = "two";\n');
      await dev.until(/up \d+ two/);
      expect(dev.output()).toContain("[tsmicro dev] shared/greeting.ts changed: restarting\n");
      // Saved by renaming a copy over it, it is still seen: its folder is watched, not the file.
      save(`${greeting}.tmp`, 'export const greeting: string = "three";\n');
      await rename(`${greeting}.tmp`, greeting);
      await dev.until(/up \d+ three/);
      expect(dev.output()).toMatch(/up \d+ three/);
      dev.run.kill("SIGINT");
      expect(await dev.exited, dev.output()).toBe(0);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("restarts on a change of an imported file written between the service's load of it and the watch of it", async () => {
    const project = join(dir, "raced-import");
    await typeScriptService(project);
    await mkdir(join(project, "shared"));
    const greeting = join(project, "shared", "greeting.ts");
    await writeFile(greeting, 'export const greeting: string = "one";\n');
    await printGreeting(project);
    // As a watch build of the shared code writes it again just as the service has loaded it: at
    // once, before tsmicro dev has read the line naming the file and begun to watch it.
    const main = join(project, "src", "main.ts");
    const rewrite = `if (greeting === "one") writeFileSync(${JSON.stringify(greeting)}, 'export const greeting: string = "two";\\n');\n`;
    await writeFile(main, (await readFile(main, "utf8")).replace("const pid: number", `${rewrite}const pid: number`));
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until(/up \d+ two/);
      expect(dev.output()).toMatch(
        /up \d+ one\n\[tsmicro dev\] shared\/greeting.ts changed: restarting\n.*\nup \d+ two\n/,
      );
      dev.run.kill("SIGINT");
      expect(await dev.exited).toBe(0);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("starts once a service that writes a file outside its folder and then imports it (code generated at start)", async () => {
    const project = join(dir, "writes-its-import");
    await typeScriptService(project);
    await mkdir(join(project, "shared"));
    const generated = join(project, "shared", "generated.ts");
    const main = join(project, "src", "main.ts");
    const generate =
      `writeFileSync(${JSON.stringify(generated)}, "export const at: number = " + Date.now() + ";\\n");\n` +
      `await import(${JSON.stringify(pathToFileURL(generated).href)});\n`;
    await writeFile(main, (await readFile(main, "utf8")).replace("const pid: number", `${generate}const pid: number`));
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until(/up \d+/);
      // A restart would come within a start's time: each start writes the file anew, and would restart again.
      for (let i = 0; i < 50 && !/up \d+[\s\S]*up \d+/.test(dev.output()); i++)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(dev.output()).not.toContain("changed: restarting");
      expect(dev.output().match(/up \d+/g)).toHaveLength(1);
      dev.run.kill("SIGINT");
      expect(await dev.exited, dev.output()).toBe(0);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("follows an imported file's folder removed and made again (a build emptying it), and starts on its return", async () => {
    const project = join(dir, "remade");
    await typeScriptService(project);
    const shared = join(project, "shared");
    await mkdir(shared);
    const greeting = join(shared, "greeting.ts");
    await writeFile(greeting, 'export const greeting: string = "one";\n');
    await printGreeting(project);
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until(/up \d+ one/);
      // A restart on a save there says its folder is watched (the service names its imports as it starts).
      save(greeting, 'export const greeting: string = "two";\n');
      await dev.until(/up \d+ two/);
      // Removed: the service restarts without it and fails, waiting for a change.
      await rm(shared, { recursive: true });
      await dev.until("waiting for a change");
      expect(dev.output()).toContain("[tsmicro dev] the service exited with code 1: waiting for a change");
      await mkdir(shared);
      save(greeting, 'export const greeting: string = "three";\n');
      await dev.until(/up \d+ three/);
      expect(dev.output()).toMatch(/up \d+ three/);
      // And the folder made again is watched as the first was.
      save(greeting, 'export const greeting: string = "four";\n');
      await dev.until(/up \d+ four/);
      expect(dev.output()).toMatch(/up \d+ four/);
      dev.run.kill("SIGINT");
      expect(await dev.exited, dev.output()).toBe(0);
    } finally {
      dev.killAll();
    }
  }, 60_000);

  it("leaves a forked child's IPC channel (its fd 3) to it: the import hook writes only to the pipe tsmicro dev gave", async () => {
    const project = join(dir, "fork");
    await typeScriptService(project);
    // fork() passes the service's --import flags on, dev-imports.ts among them, and gives the child its IPC
    // channel as fd 3: a file named there would break the channel, and the service with it.
    await writeFile(join(project, "src", "helper.ts"), "export const helper: number = 1;\n");
    await writeFile(
      join(project, "src", "main.ts"),
      [
        'import { fork } from "node:child_process";',
        'import { fileURLToPath } from "node:url";',
        'if (process.argv[2] === "child") {',
        '  await import("./helper.ts");',
        '  process.on("message", (m) => process.send?.({ echo: m }));',
        "} else {",
        '  const child = fork(fileURLToPath(import.meta.url), ["child"]);',
        '  child.on("message", (m) => console.log("child says " + JSON.stringify(m)));',
        '  child.send("hi");',
        '  console.log("up " + process.pid);',
        '  process.on("SIGINT", () => { child.kill(); process.exit(0); });',
        "  setInterval(() => {}, 1000);",
        "}",
        "",
      ].join("\n"),
    );
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until('child says {"echo":"hi"}');
      dev.run.kill("SIGINT");
      expect(await dev.exited, dev.output()).toBe(0);
      expect(dev.output()).not.toContain("JSON");
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("says a mistake tsx cannot compile in one line, where it is, not esbuild's stack, and starts on the fix", async () => {
    const project = join(dir, "typo");
    await typeScriptService(project);
    const main = join(project, "src", "main.ts");
    const good = await readFile(main, "utf8");
    await writeFile(main, `const typo: number = (1;\n${good}`);
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until("waiting for a change");
      expect(dev.output()).toBe(
        'src/main.ts:1:23: Expected ")" but found ";"\n' +
          "[tsmicro dev] the service exited with code 1: waiting for a change to start it again (Ctrl-C to stop)\n",
      );
      save(main, good);
      await dev.until(/up \d+/);
      dev.run.kill("SIGINT");
      expect(await dev.exited, dev.output()).toBe(0);
    } finally {
      dev.run.kill("SIGKILL");
    }
  }, 40_000);

  it("says an import of a file or package that is not there in one line, naming a near one, not Node's stack", async () => {
    const project = join(dir, "missing");
    await typeScriptService(project);
    const main = join(project, "src", "main.ts");
    const good = await readFile(main, "utf8");
    await writeFile(
      join(project, "src", "greeting.ts"),
      'export const greeting = "hi";\nexport type Shape = string;\n',
    );
    await mkdir(join(project, "node_modules", "@acme", "logger"), { recursive: true });
    // A typo in a file's name, then in a package's, then a type imported as a value (tsx checks no types).
    const mistakes = [
      'import { greeting } from "./greting.js";\nconsole.log(greeting);\n',
      'import { log } from "@acme/loger";\nlog();\n',
      'import { greeting } from "./greeting.js";\nimport { Shape } from "./greeting.js";\nconst s: Shape = greeting;\n',
    ];
    // As a scaffolded project has it: imports are compiled as written, a type's too.
    await writeFile(
      join(project, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { verbatimModuleSyntax: true } }),
    );
    await writeFile(main, `${mistakes[0]}${good}`);
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    const waiting =
      "[tsmicro dev] the service exited with code 1: waiting for a change to start it again (Ctrl-C to stop)\n";
    try {
      await dev.until("waiting for a change");
      expect(dev.output()).toBe(
        "src/main.ts:1:27: imports ./greting.js, which does not exist: there is no src/greting.ts or src/greting.js: " +
          `did you mean ./greeting.js?\n${waiting}`,
      );
      await writeFile(main, `${mistakes[1]}${good}`);
      await dev.until(/waiting for a change[\s\S]*waiting for a change/);
      expect(dev.output().split(waiting)[1]).toBe(
        "[tsmicro dev] src/main.ts changed: starting\n" +
          "src/main.ts:1:22: imports the package @acme/loger, which is not installed: did you mean @acme/logger?\n",
      );
      await writeFile(main, `${mistakes[2]}${good}`);
      await dev.until(/(waiting for a change[\s\S]*){3}/);
      expect(dev.output().split(waiting)[2]).toBe(
        "[tsmicro dev] src/main.ts changed: starting\n" +
          "src/main.ts:2:10: ./greeting.js exports no Shape (a type or an interface? import it with import type: tsx does not check types)\n",
      );
      await writeFile(main, good);
      await dev.until(/up \d+/);
      dev.run.kill("SIGINT");
      expect(await dev.exited).toBe(0);
    } finally {
      dev.run.kill("SIGKILL");
    }
  }, 40_000);

  it("says an import of a folder, or of a package's file it does not export, in one line, not Node's stack", async () => {
    const project = join(dir, "unexported");
    await typeScriptService(project);
    const main = join(project, "src", "main.ts");
    const good = await readFile(main, "utf8");
    await mkdir(join(project, "src", "lib"));
    await writeFile(join(project, "src", "lib", "lib.ts"), "export const lib = 1;\n");
    const pkg = join(project, "node_modules", "@acme", "kit");
    await mkdir(pkg, { recursive: true });
    await writeFile(
      join(pkg, "package.json"),
      JSON.stringify({ name: "@acme/kit", type: "module", exports: "./index.js" }),
    );
    await writeFile(join(pkg, "index.js"), "export const kit = 1;\n");
    await writeFile(main, `import { lib } from "./lib";\nconsole.log(lib);\n${good}`);
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    const waiting =
      "[tsmicro dev] the service exited with code 1: waiting for a change to start it again (Ctrl-C to stop)\n";
    try {
      await dev.until("waiting for a change");
      expect(dev.output()).toBe(
        `src/main.ts:1:22: imports ./lib, a folder with no index file: name a file of it\n${waiting}`,
      );
      await writeFile(main, `import { kit } from "@acme/kit/inner.js";\nconsole.log(kit);\n${good}`);
      await dev.until(/(waiting for a change[\s\S]*){2}/);
      expect(dev.output().split(waiting)[1]).toBe(
        "[tsmicro dev] src/main.ts changed: starting\n" +
          'src/main.ts:1:22: imports @acme/kit/inner.js, which @acme/kit does not export (the "exports" of its package.json name no ./inner.js)\n',
      );
      dev.run.kill("SIGINT");
      expect(await dev.exited).toBe(0);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("starts a service that could not import a package once an install has put it there", async () => {
    const project = join(dir, "uninstalled");
    await typeScriptService(project);
    const main = join(project, "src", "main.ts");
    await writeFile(main, `import { pad } from "padder";\nconsole.log(pad);\n${await readFile(main, "utf8")}`);
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until("waiting for a change");
      expect(dev.output()).toContain(
        "src/main.ts:1:22: imports the package padder, which is not installed (npm install padder)\n",
      );
      // npm install padder: the package, then npm's record of the install, written last.
      const pkg = join(project, "node_modules", "padder");
      await mkdir(pkg);
      await writeFile(
        join(pkg, "package.json"),
        JSON.stringify({ name: "padder", type: "module", exports: "./index.js" }),
      );
      await writeFile(join(pkg, "index.js"), 'export const pad = "padded";\n');
      await writeFile(join(project, "node_modules", ".package-lock.json"), "{}");
      await dev.until(/up \d+/);
      expect(dev.output()).toContain("[tsmicro dev] node_modules (npm install) changed: starting\npadded\nup ");
      dev.run.kill("SIGINT");
      expect(await dev.exited).toBe(0);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("says the entry file is gone when it is removed, not Node's stack, and starts the service on its return", async () => {
    const project = join(dir, "removed");
    await typeScriptService(project);
    const main = join(project, "src", "main.ts");
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until(/up \d+/);
      const first = await servicePid(project);
      // A branch switched, or the file moved away: the service stops, and none starts in its place.
      await rename(main, join(project, "main.ts.away"));
      await dev.until("is gone");
      expect(dev.output()).toBe(
        `up ${first}\n[tsmicro dev] src/main.ts changed: restarting\ndown ${first}\n` +
          "[tsmicro dev] src/main.ts is gone: waiting for it to come back to start the service (Ctrl-C to stop)\n",
      );
      await rename(join(project, "main.ts.away"), main);
      await dev.until(/up \d+[\s\S]*up \d+/);
      expect(dev.output()).toContain("[tsmicro dev] src/main.ts changed: starting\n");
      dev.run.kill("SIGINT");
      expect(await dev.exited).toBe(0);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("starts the service when the entry's folder, removed with it, is back", async () => {
    const project = join(dir, "folder-removed");
    await typeScriptService(project);
    const src = join(project, "src");
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until(/up \d+/);
      // A branch switched to one without the service (git removes the emptied folder), or git stash -u.
      const text = await readFile(join(src, "main.ts"), "utf8");
      await rm(src, { recursive: true });
      await dev.until("is gone");
      await mkdir(src);
      await writeFile(join(src, "main.ts"), text);
      await dev.until(/up \d+[\s\S]*up \d+/);
      expect(dev.output()).toContain("[tsmicro dev] src/main.ts changed: starting\n");
      dev.run.kill("SIGINT");
      expect(await dev.exited).toBe(0);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("ends a service on an uncaught error as Node does, printed with its stack, unless the service listens for it", async () => {
    const project = join(dir, "thrown");
    await typeScriptService(project);
    const main = join(project, "src", "main.ts");
    await writeFile(main, 'throw new Error("boom");\n');
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until("waiting for a change");
      expect(dev.output()).toMatch(/Error: boom\n {4}at .*src\/main\.ts:1:7\)/);
      expect(dev.output()).toContain("[tsmicro dev] the service exited with code 1: waiting for a change");
      // The service's own listener decides.
      save(
        main,
        'process.on("uncaughtException", (e) => { console.log("mine " + e.message); process.exit(4); });\n' +
          'setTimeout(() => { throw new Error("late"); }, 10);\n',
      );
      await dev.until("exited with code 4");
      expect(dev.output()).toContain("mine late\n[tsmicro dev] the service exited with code 4");
      dev.run.kill("SIGINT");
      expect(await dev.exited, dev.output()).toBe(0);
    } finally {
      dev.run.kill("SIGKILL");
    }
  }, 40_000);

  it("leaves a worker thread's uncaught error to the service's worker.on(\"error\"), as Node does", async () => {
    const project = join(dir, "worker-error");
    await typeScriptService(project);
    // Node loads tsmicro dev's --import modules into worker threads too: one ending the thread on its
    // error would keep the error from the main thread's listener (a pool rejecting the task).
    await writeFile(join(project, "src", "job.mjs"), 'throw new Error("boom in the worker");\n');
    await writeFile(
      join(project, "src", "main.ts"),
      'import { Worker } from "node:worker_threads";\n' +
        'const worker = new Worker(new URL("./job.mjs", import.meta.url));\n' +
        'worker.on("error", (e) => { console.log("caught " + e.message); process.exit(3); });\n',
    );
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until("waiting for a change");
      expect(dev.output()).toContain("caught boom in the worker\n[tsmicro dev] the service exited with code 3");
      expect(dev.output()).not.toMatch(/Error: boom in the worker/);
      dev.run.kill("SIGINT");
      expect(await dev.exited, dev.output()).toBe(0);
    } finally {
      dev.run.kill("SIGKILL");
    }
  }, 40_000);

  it("passes --help to the service and ends with it, as the service run alone does", async () => {
    const project = join(dir, "help");
    await typeScriptService(project);
    const help = 'if (process.argv.includes("--help")) { console.log("the flags: --registry"); process.exit(0); }\n';
    await writeFile(join(project, "src", "main.ts"), help + (await readFile(join(project, "src", "main.ts"), "utf8")));
    const result = await runToEnd("node", [bins.tsmicro, "dev", "src/main.ts", "--help"], { cwd: project, env });
    expect(result).toEqual({ code: 0, stdout: "the flags: --registry\n", stderr: "" });
  }, 40_000);

  it("takes a change while the service stops for the last one into the same restart: one stop signal, one start", async () => {
    const project = join(dir, "slow");
    await typeScriptService(project);
    // It stops only once the test lets it (the file release appears), saying each stop signal it gets.
    const slowStop = [
      'import { existsSync } from "node:fs";',
      "const pid = process.pid;",
      'console.log("up " + pid);',
      'process.on("SIGTERM", () => {',
      '  console.log("term " + pid);',
      '  setInterval(() => { if (existsSync("release")) process.exit(0); }, 20);',
      "});",
      "setInterval(() => {}, 1000);",
      "",
    ].join("\n");
    await writeFile(join(project, "src", "main.ts"), slowStop);
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until(/up \d+/);
      const first = /up (\d+)/.exec(dev.output())![1]!;
      save(join(project, "src", "a.ts"), "export const a = 1;\n");
      await dev.until(`term ${first}`);
      save(join(project, "src", "b.ts"), "export const b = 1;\n");
      await dev.until("src/b.ts changed");
      expect(dev.output()).toContain("[tsmicro dev] src/b.ts changed: the service starts with it once it has stopped");
      save(join(project, "release"), "");
      await dev.until(/up \d+[\s\S]*up \d+/);
      // One SIGTERM reached it (a second makes a service exit before it deregisters), and one new service started.
      expect(dev.output().split(`term ${first}`).length - 1).toBe(1);
      dev.run.kill("SIGTERM");
      expect(await dev.exited, dev.output()).toBe(0);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("gives a service stopping for a restart its --shutdown_grace to drain, saying it waits, and kills it after", async () => {
    const project = join(dir, "draining");
    await typeScriptService(project);
    // Its drain ends only once the test lets it (the file release appears).
    const draining = [
      'import { existsSync, rmSync } from "node:fs";',
      "const pid = process.pid;",
      'console.log("up " + pid);',
      'process.on("SIGTERM", () => {',
      '  console.log("draining " + pid);',
      '  setInterval(() => { if (existsSync("release")) { rmSync("release"); console.log("drained " + pid); process.exit(0); } }, 20);',
      "});",
      "setInterval(() => {}, 1000);",
      "",
    ].join("\n");
    await writeFile(join(project, "src", "main.ts"), draining);
    const dev = tsmicroRun(project, ["dev", "src/main.ts", "--shutdown_grace=2s"], env);
    try {
      await dev.until(/up \d+/);
      const first = /up (\d+)/.exec(dev.output())![1]!;
      save(join(project, "src", "a.ts"), "export const a = 1;\n");
      await dev.until("still stopping");
      expect(dev.output()).toContain(
        "[tsmicro dev] the old service is still stopping (its calls in flight get its --shutdown_grace of 2 s to " +
          "finish): the new one starts once it has stopped\n",
      );
      // A drain that ends is waited for.
      save(join(project, "release"), "");
      await dev.until(`drained ${first}`, /up \d+[\s\S]*up \d+/);
      const second = /up \d+[\s\S]*up (\d+)/.exec(dev.output())![1]!;
      // One that does not is killed, once its grace and a margin for the rest of its stop have passed.
      save(join(project, "src", "b.ts"), "export const b = 1;\n");
      await dev.until("killed", /(up \d+[\s\S]*){3}/);
      expect(dev.output()).toContain(
        "[tsmicro dev] the service did not stop within 7 s (its --shutdown_grace of 2 s, and 5 s more): killed\n",
      );
      expect(dev.output()).not.toContain(`drained ${second}`);
      expect(alive(Number(second))).toBe(false);
      dev.run.kill("SIGTERM");
      await dev.until(/draining \d+[\s\S]*draining \d+[\s\S]*draining \d+/);
      save(join(project, "release"), "");
      expect(await dev.exited, dev.output()).toBe(0);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("exits 130 when a second Ctrl-C had to kill the service, as a shell says a program stopped by Ctrl-C ended", async () => {
    const project = join(dir, "forced");
    await typeScriptService(project);
    const hang = [
      "const pid = process.pid;",
      'console.log("up " + pid);',
      'process.on("SIGINT", () => console.log("hanging " + pid));',
      "setInterval(() => {}, 1000);",
      "",
    ].join("\n");
    await writeFile(join(project, "src", "main.ts"), hang);
    const dev = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await dev.until(/up \d+/);
      const service = Number(/up (\d+)/.exec(dev.output())![1]);
      dev.run.kill("SIGINT");
      await dev.until("hanging");
      // A second Ctrl-C, not the first delivered twice.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      dev.run.kill("SIGINT");
      expect(await dev.exited, dev.output()).toBe(130);
      expect(alive(service)).toBe(false);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("kills a service that has not stopped within its grace after a stop signal: nobody may be there to give a second", async () => {
    const project = join(dir, "unstoppable");
    await typeScriptService(project);
    await writeFile(join(project, "src", "main.ts"), stubbornService);
    const dev = tsmicroRun(project, ["dev", "src/main.ts", "--shutdown_grace=1s"], env);
    try {
      await dev.until(/up \d+/);
      const service = Number(/up (\d+)/.exec(dev.output())![1]);
      // A process manager's stop, or npm stopped by a signal of its own (tsmicro dev then stops too).
      dev.run.kill("SIGTERM");
      await dev.until(`ignoring ${service}`, "killed");
      expect(dev.output()).toContain(
        "[tsmicro dev] the service did not stop within 6 s (its --shutdown_grace of 1 s, and 5 s more): killed\n",
      );
      // Killed, it ends as a program a stop signal had to end: 128 + SIGTERM's number.
      expect(await dev.exited).toBe(143);
      expect(alive(service)).toBe(false);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("has its service stop when it is killed itself, and the service killed when it does not stop within its grace", async () => {
    const project = join(dir, "orphaned");
    await typeScriptService(project);
    await writeFile(join(project, "src", "main.ts"), stubbornService);
    const dev = tsmicroRun(project, ["dev", "src/main.ts", "--shutdown_grace=1s"], env);
    try {
      await dev.until(/up \d+/);
      const service = Number(/up (\d+)/.exec(dev.output())![1]);
      // kill -9 on tsmicro dev: the service learns it has gone, and is asked to stop.
      dev.run.kill("SIGKILL");
      await dev.until(`ignoring ${service}`);
      expect(dev.output()).toContain(`ignoring ${service}`);
      // Its --shutdown_grace and tsmicro dev's 5 s more, and it is killed, as tsmicro dev would.
      for (let i = 0; i < 150 && alive(service); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(alive(service)).toBe(false);
    } finally {
      dev.killAll();
    }
  }, 40_000);

  it("refuses a second one of the same folder, naming the first, which runs on; a killed first does not block", async () => {
    // A service of a workspace, run on its own (npm run dev in its folder) in one terminal.
    const workspace = join(dir, "workspace");
    const project = join(workspace, "services", "twice");
    await typeScriptService(project);
    await writeFile(join(workspace, "tsmicro.json"), JSON.stringify({ workspace: true }));
    await mkdir(join(project, "node_modules", ".bin"));
    const pkg = { name: "twice", type: "module", scripts: { dev: `node ${bins.tsmicro} dev src/main.ts` } };
    await writeFile(join(project, "package.json"), JSON.stringify(pkg));
    const first = tsmicroRun(project, ["dev", "src/main.ts"], env);
    try {
      await first.until(/up \d+/);
      const service = await servicePid(project);
      const second = await runToEnd("node", [bins.tsmicro, "dev", "src/main.ts"], { cwd: project, env });
      expect(second).toEqual({
        code: 1,
        stdout: "",
        stderr:
          `tsmicro: twice runs already in ${project} (tsmicro dev, pid ${first.run.pid}: npm run dev or tsmicro run ` +
          `in another terminal): stop it there with Ctrl-C, or kill ${first.run.pid}, then start it again\n`,
      });
      // The first was not touched: the same service runs on.
      expect(alive(service)).toBe(true);
      expect(await servicePid(project)).toBe(service);
      expect(first.output()).not.toContain("down");

      // npm run dev at the workspace's root (tsmicro run) refuses it too, before it starts anything.
      const run = await runToEnd("node", [bins.tsmicro, "run"], { cwd: workspace, env });
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(
        `tsmicro: twice (pid ${first.run.pid}) runs already, started by npm run dev or tsmicro run in another ` +
          "terminal: stop it there with Ctrl-C (or kill the pid)\n",
      );
      expect(await servicePid(project)).toBe(service);

      // The first dies by kill -9: its service stops on its own, and its lock does not block the next start.
      first.run.kill("SIGKILL");
      await first.exited;
      for (let i = 0; i < 100 && alive(service); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(alive(service)).toBe(false);
      const third = tsmicroRun(project, ["dev", "src/main.ts"], env);
      try {
        await third.until(/up \d+/);
        expect(await servicePid(project)).not.toBe(service);
        third.run.kill("SIGTERM");
        expect(await third.exited).toBe(0);
      } finally {
        third.run.kill("SIGKILL");
      }
    } finally {
      first.run.kill("SIGKILL");
    }
  }, 40_000);

  // A time namespace shifts the start /proc shows for every process by its boot offset, for readers in it.
  const timeNamespaced = ["unshare", "--time", "--boottime", "100000"];
  const canUnshareTime =
    process.platform === "linux" && spawnSync(timeNamespaced[0]!, [...timeNamespaced.slice(1), "true"]).status === 0;

  it.runIf(canUnshareTime)(
    "refuses a second one while the first runs in another time namespace, whose start /proc shows otherwise",
    async () => {
      const project = join(dir, "time-namespaced");
      await typeScriptService(project);
      // unshare execs tsmicro dev, which keeps its pid.
      const first = tsmicroRun(project, ["dev", "src/main.ts"], env, timeNamespaced);
      try {
        await first.until(/up \d+/);
        const service = await servicePid(project);
        const second = await runToEnd("node", [bins.tsmicro, "dev", "src/main.ts"], { cwd: project, env });
        expect(second.code).toBe(1);
        expect(second.stderr).toContain(`runs already in ${project} (tsmicro dev, pid ${first.run.pid}:`);
        expect(await servicePid(project)).toBe(service);
        first.run.kill("SIGINT");
        expect(await first.exited).toBe(0);
      } finally {
        first.killAll();
      }
    },
    40_000,
  );

  it("lets one of the starts racing over a stale lock take it, never two", async () => {
    const project = join(dir, "raced");
    const runtime = join(dir, "raced-runtime");
    await mkdir(project);
    // Each racer tries to take the lock at every line it reads, and says whether it got it. Three, as
    // a start that has just taken the lock can meet two more, one reading it stale.
    const racer = join(dir, "racer.mjs");
    await writeFile(
      racer,
      [
        'import { createInterface } from "node:readline";',
        `const { isHeld, takeDevLock } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, "dist/bin/cli/dev-lock.js")).href)});`,
        "for await (const _ of createInterface({ input: process.stdin })) {",
        `  const taken = await takeDevLock(${JSON.stringify(project)}).catch(() => undefined);`,
        '  process.stdout.write(taken === undefined ? "failed\\n" : isHeld(taken) ? "won\\n" : "lost\\n");',
        "}",
        "",
      ].join("\n"),
    );
    const racers = [0, 1, 2].map(() => {
      const child = spawn(process.execPath, [racer], {
        env: { ...process.env, XDG_RUNTIME_DIR: runtime },
        stdio: ["pipe", "pipe", "inherit"],
      });
      const answers: ((line: string) => void)[] = [];
      createInterface({ input: child.stdout }).on("line", (line) => answers.shift()?.(line));
      return { child, answer: () => new Promise<string>((resolve) => answers.push(resolve)) };
    });
    try {
      const outcomes: string[] = [];
      let lock = "";
      for (let round = 0; round < 200; round++) {
        // A lock left by a holder killed by kill -9: it names a run of a process that is gone.
        if (lock) await writeFile(lock, JSON.stringify({ pid: process.pid, dir: project, boot: "gone", ticks: 0 }));
        const answers = racers.map((racer) => racer.answer());
        for (const { child } of racers) child.stdin.write("go\n");
        outcomes.push((await Promise.all(answers)).sort().join(" "));
        if (!lock) {
          const folder = join(runtime, `tsmicro-${process.getuid!()}`, "dev");
          lock = join(folder, (await readdir(folder)).find((name) => name.endsWith(".json"))!);
        }
      }
      expect(outcomes.filter((outcome) => outcome !== "lost lost won")).toEqual([]);
    } finally {
      for (const { child } of racers) child.kill();
    }
  }, 40_000);

  it("tsmicro run's second Ctrl-C kills a service hung in its stop, which runs in a process group of its own", async () => {
    const workspace = join(dir, "hung-workspace");
    const project = join(workspace, "services", "hung");
    await typeScriptService(project);
    await writeFile(join(workspace, "tsmicro.json"), JSON.stringify({ workspace: true }));
    await mkdir(join(project, "node_modules", ".bin"));
    const pkg = { name: "hung", type: "module", scripts: { dev: `node ${bins.tsmicro} dev src/main.ts` } };
    await writeFile(join(project, "package.json"), JSON.stringify(pkg));
    // Its stop never ends, its event loop held: no timer of its own (dev-parent-watch) runs any more.
    const hang = [
      'import { writeFileSync } from "node:fs";',
      'writeFileSync("service.pid", String(process.pid));',
      'console.log("up " + process.pid);',
      'const hang = () => { console.log("hanging"); for (;;) {} };',
      'process.on("SIGTERM", hang);',
      'process.on("SIGINT", hang);',
      "setInterval(() => {}, 1000);",
      "",
    ].join("\n");
    await writeFile(join(project, "src", "main.ts"), hang);
    const run = tsmicroRun(workspace, ["run"], env);
    let service = 0;
    try {
      await run.until(/up \d+/);
      service = await servicePid(project);
      run.run.kill("SIGINT");
      await run.until("hanging");
      // A second Ctrl-C, not the first delivered twice.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      run.run.kill("SIGINT");
      for (let i = 0; i < 50 && alive(service); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(alive(service)).toBe(false);
      // Left running, it would hold tsmicro run's output pipes open, and tsmicro run with them. Killed, it
      // makes tsmicro run end as a program Ctrl-C stopped.
      expect(await run.exited).toBe(130);
    } finally {
      run.run.kill("SIGKILL");
      if (service && alive(service)) process.kill(service, "SIGKILL");
    }
  }, 40_000);

  it("stops a service whose tsmicro dev was killed before the service had loaded dev-parent-watch", async () => {
    const project = join(dir, "orphaned-early");
    await mkdir(project, { recursive: true });
    await writeFile(
      join(project, "main.mjs"),
      'import { writeFileSync } from "node:fs";\n' +
        'writeFileSync("service.pid", String(process.pid));\n' +
        'process.on("SIGTERM", () => { writeFileSync("stopped", ""); process.exit(0); });\n' +
        "setInterval(() => {}, 1000);\n",
    );
    const parentWatch = join(repoRoot, "dist", "bin", "cli", "dev-parent-watch.js");
    // As tsmicro dev killed in the moment it started the service: the shell that names itself the
    // service's tsmicro dev has ended (and been reaped) before the service loads anything, and its
    // parent is already another process.
    const script =
      `(while kill -0 $$ 2>/dev/null; do sleep 0.05; done; ` +
      `TSMICRO_DEV_PARENT=$$ exec "${process.execPath}" --import "${pathToFileURL(parentWatch).href}" main.mjs) ` +
      "</dev/null >/dev/null 2>&1 &";
    expect(spawnSync("sh", ["-c", script], { cwd: project }).status).toBe(0);
    let service = 0;
    try {
      for (let i = 0; i < 100 && !service; i++) {
        service = await servicePid(project).catch(() => 0);
        if (!service) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(service).toBeGreaterThan(0);
      for (let i = 0; i < 100 && alive(service); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(alive(service)).toBe(false);
      expect(await readdir(project)).toContain("stopped");
    } finally {
      if (service && alive(service)) process.kill(service, "SIGKILL");
    }
  }, 40_000);
});
