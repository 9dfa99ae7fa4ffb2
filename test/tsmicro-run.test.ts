import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bins, run as runToEnd } from "./support/cli.js";

// tsmicro run on a workspace whose services are plain scripts (the scaffolded
// ones, with tsx watch, are run in test/scaffold-workspace.test.ts).
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

/** `tsmicro run` in `cwd`: its output so far (stdout and stderr), its exit code, and a wait for lines to appear. */
function tsmicroRun(cwd: string) {
  const run = spawn(process.execPath, [bins.tsmicro, "run"], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  run.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  run.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => run.once("exit", (code) => resolve(code)));
  const until = async (...texts: string[]) => {
    for (let i = 0; i < 100 && !texts.every((text) => output.includes(text)); i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
  };
  return { run, output: () => output, exited, until };
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

  it("kills what has not stopped 15 s after Ctrl-C, saying so, and exits", async () => {
    const { run, output, exited, until } = tsmicroRun(root);
    try {
      await until("polite | up", "stuck  | up");
      expect(output()).toContain("stuck  | up");
      run.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(output()).toContain("stopping every service (Ctrl-C again to kill)");
      expect(output()).toContain("1 still running after 15 s: killed");
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
