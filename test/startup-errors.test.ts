/**
 * A service process that cannot start prints one line on stderr naming what
 * is wrong, with no stack trace, and exits 1: a taken port, an unreachable
 * registry, a bad flag value. The gateway (`tsmicro api`) does the same.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bins, repoRoot } from "./support/cli.js";
import { killAllNodes, startNode } from "./support/nodes.js";
import { closedPort } from "./support/etcd.js";

interface Exit {
  readonly code: number | null;
  readonly stderrLines: string[];
  readonly stdout: string;
}

/** Runs `node [--import tsx] script ...args` to its end (killed after 20 s), by its own pid. */
function runToExit(script: string, args: readonly string[], tsx: boolean): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(tsx ? ["--import", "tsx"] : []), script, ...args], {
      cwd: repoRoot,
      env: { ...process.env, NODE_OPTIONS: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderrLines: stderr.split("\n").filter((line) => line.trim() !== ""), stdout });
    });
  });
}

/** Whether something listens on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const echoNode = (args: readonly string[]) => runToExit(join(repoRoot, "test/fixtures/echo-node.ts"), args, true);

describe("a service that cannot start: one line on stderr, exit 1", () => {
  let dir = "";
  let holder: Server;
  let takenPort = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-startup-"));
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    takenPort = (holder.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => holder.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const local = () => ["--registry=local", `--registry_address=${dir}`];

  it("--server_address taken by another process", async () => {
    const exit = await echoNode([...local(), `--server_address=127.0.0.1:${takenPort}`]);
    expect(exit.code).toBe(1);
    expect(exit.stderrLines, exit.stderrLines.join("\n")).toEqual([
      `echo: cannot start: --server_address 127.0.0.1:${takenPort} is in use by another process; choose another port or stop it (TSM_ERR_ADDRESS_IN_USE)`,
    ]);
    // The JSON log has it too, for the log centre, with its code.
    const logged = exit.stdout
      .split("\n")
      .filter((line) => line.includes("cannot start"))
      .map((line) => JSON.parse(line) as { level: number; code: string; msg: string });
    expect(logged).toEqual([
      expect.objectContaining({ level: 50, code: "TSM_ERR_ADDRESS_IN_USE", msg: exit.stderrLines[0] }),
    ]);
  });

  it("with --log_format pretty (npm run dev) the line is printed once, on stderr", async () => {
    const exit = await echoNode([...local(), `--server_address=127.0.0.1:${takenPort}`, "--log_format=pretty"]);
    expect(exit.code).toBe(1);
    expect(exit.stderrLines, exit.stderrLines.join("\n")).toEqual([
      expect.stringMatching(/^echo: cannot start: .*\(TSM_ERR_ADDRESS_IN_USE\)$/),
    ]);
    expect(exit.stdout).not.toContain("cannot start");
  });

  it("with --log_format pretty the lines logged before the failure come before it, as they happened", async () => {
    // One file for both streams, as a terminal shows them: what reaches it first comes first.
    const output = join(dir, "pretty-order.txt");
    const file = await open(output, "w");
    try {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          join(repoRoot, "test/fixtures/echo-node.ts"),
          ...local(),
          `--server_address=127.0.0.1:${takenPort}`,
          "--log_format=pretty",
        ],
        {
          cwd: repoRoot,
          env: { ...process.env, NODE_OPTIONS: "", ECHO_LOG_BEFORE_START: "database opened" },
          stdio: ["ignore", file.fd, file.fd],
        },
      );
      const [code] = (await once(child, "exit")) as [number | null];
      expect(code).toBe(1);
    } finally {
      await file.close();
    }
    const lines = (await readFile(output, "utf8")).split("\n").filter((line) => line.trim() !== "");
    expect(lines, lines.join("\n")).toEqual([
      expect.stringMatching(/INFO.*database opened/),
      expect.stringMatching(/^echo: cannot start: .*\(TSM_ERR_ADDRESS_IN_USE\)$/),
    ]);
  });

  it("with --log_format pretty beside a bad flag, the log flags still hold: the line is printed once", async () => {
    const exit = await echoNode([...local(), "--registy=etcd", "--log_format", "pretty"]);
    expect(exit.code).toBe(1);
    expect(exit.stderrLines, exit.stderrLines.join("\n")).toEqual([
      "echo: cannot start: unknown flag --registy: did you mean --registry? (TSM_ERR_FLAG_UNKNOWN)",
    ]);
    expect(exit.stdout).not.toContain("cannot start");
  });

  it("the registry cannot be reached (etcd at a closed port)", async () => {
    const port = await closedPort();
    const exit = await echoNode(["--registry=etcd", `--registry_address=127.0.0.1:${port}`]);
    expect(exit.code).toBe(1);
    expect(exit.stderrLines, exit.stderrLines.join("\n")).toHaveLength(1);
    expect(exit.stderrLines[0]).toMatch(/^echo: cannot start: .*127\.0\.0\.1:\d+.*\(TSM_ERR_REGISTRY_UNREACHABLE\)$/);
    expect(exit.stderrLines[0]).toContain(`127.0.0.1:${port}`);
    // What the refused connection means, without grpc-js's or etcd3's own text around it.
    expect(exit.stderrLines[0]).toContain(`(connect ECONNREFUSED 127.0.0.1:${port}: nothing listens there`);
    expect(exit.stderrLines[0]).not.toMatch(/UNAVAILABLE|No connection established|failures in a row/);
  });

  it("--help (or -h) prints each flag described on stdout and exits 0, registering nothing, as go-micro's services do", async () => {
    const registryDir = await mkdtemp(join(dir, "registry-"));
    for (const flag of ["--help", "-h"]) {
      const exit = await echoNode(["--registry=local", `--registry_address=${registryDir}`, flag, "--registy=etcd"]);
      expect(exit.code).toBe(0);
      expect(exit.stderrLines).toEqual([]);
      expect(exit.stdout).toMatch(/^echo: a tsmicro service\./);
      expect(exit.stdout).toContain(
        [
          "\nregistry (docs/registry.md):",
          "  --registry                  where services find each other: local (a folder on this machine),",
          "                              etcd, or memory (one process) (default: local)",
          "                              [$TSMICRO_REGISTRY, $MICRO_REGISTRY]",
          "  --registry_address          etcd endpoints",
        ].join("\n"),
      );
      expect(exit.stdout).toMatch(
        /\n {2}--client_request_timeout +timeout of unary calls that set none \(default: 5s\)\n/,
      );
      expect(await readdir(registryDir)).toEqual([]);
    }
  });

  it("a password in the address that cannot be reached is redacted on stderr, as in the log", async () => {
    const port = await closedPort();
    const exit = await echoNode([...local(), "--broker=nats", `--broker_address=nats://app:s3cret@127.0.0.1:${port}`]);
    expect(exit.code).toBe(1);
    expect(exit.stderrLines).toEqual([
      `echo: cannot start: the nats broker at nats://app:[redacted]@127.0.0.1:${port} cannot be used (connection refused: nothing listens there; is nats-server running?); start nats-server there, or point --broker_address at a running one (nats://host:4222) (TSM_ERR_BROKER_UNREACHABLE)`,
    ]);
    expect(exit.stdout).toContain("nats://app:[redacted]@");
    expect(exit.stdout).not.toContain("s3cret");
  });

  it("a malformed --registry_address, or a name that does not resolve, is said in words", async () => {
    const malformed = await echoNode(["--registry=etcd", "--registry_address=127.0.0.1:notaport"]);
    expect(malformed.code).toBe(1);
    expect(malformed.stderrLines).toEqual([
      'echo: cannot start: --registry_address has an invalid value "127.0.0.1:notaport": use host:port, such as 127.0.0.1:2379 or http://etcd-1:2379, or a host alone for port 2379 (TSM_ERR_FLAG)',
    ]);
    const unresolved = await echoNode(["--registry=etcd", "--registry_address=nohost.invalid"]);
    expect(unresolved.code).toBe(1);
    expect(unresolved.stderrLines).toEqual([
      "echo: cannot start: the etcd registry at nohost.invalid:2379 cannot be reached (the name nohost.invalid does not resolve); start etcd or pass --registry_address (TSM_ERR_REGISTRY_UNREACHABLE)",
    ]);
  });

  it("a flag with a bad value", async () => {
    const exit = await echoNode([...local(), "--client_retries=lots"]);
    expect(exit.code).toBe(1);
    expect(exit.stderrLines, exit.stderrLines.join("\n")).toEqual([
      'echo: cannot start: --client_retries has an invalid value "lots": expected a whole number >= 0 (TSM_ERR_FLAG)',
    ]);
  });

  it("--server_address that is not this machine's, or no host:port", async () => {
    // 192.0.2.1 is TEST-NET-1, never a local address; binding to it sends nothing anywhere.
    const foreign = await echoNode([...local(), "--server_address=192.0.2.1:5000"]);
    expect(foreign.code).toBe(1);
    expect(foreign.stderrLines, foreign.stderrLines.join("\n")).toHaveLength(1);
    expect(foreign.stderrLines[0]).toMatch(
      /^echo: cannot start: --server_address has an invalid value "192\.0\.2\.1:5000": cannot listen there \(.*EADDRNOTAVAIL.*\); use an address of this machine, .* \(TSM_ERR_FLAG\)$/,
    );
    const malformed = await echoNode([...local(), "--server_address=nonsense"]);
    expect(malformed.code).toBe(1);
    expect(malformed.stderrLines, malformed.stderrLines.join("\n")).toEqual([
      'echo: cannot start: --server_address has an invalid value "nonsense": use host:port, such as 127.0.0.1:0 or 0.0.0.0:8080 (TSM_ERR_FLAG)',
    ]);
    const far = await echoNode([...local(), "--server_address=127.0.0.1:99999"]);
    expect(far.stderrLines).toEqual([
      'echo: cannot start: --server_address has an invalid value "127.0.0.1:99999": port 99999 is past 65535; such as 127.0.0.1:0 or 0.0.0.0:8080 (TSM_ERR_FLAG)',
    ]);
    const metrics = await echoNode([...local(), "--metrics_address=nope"]);
    expect(metrics.stderrLines).toEqual([
      'echo: cannot start: --metrics_address has an invalid value "nope": use host:port, such as 127.0.0.1:0 or 0.0.0.0:8080, or off (TSM_ERR_FLAG)',
    ]);
  });

  it("--server_advertise without a port, rather than register a node nobody can call", async () => {
    const exit = await echoNode([...local(), "--server_advertise=banana"]);
    expect(exit.code).toBe(1);
    expect(exit.stderrLines, exit.stderrLines.join("\n")).toEqual([
      'echo: cannot start: --server_advertise has an invalid value "banana": use host:port, such as 10.0.0.5:9000, user.internal:9000 or [fd00::5]:9000 (TSM_ERR_FLAG)',
    ]);
  });

  it("--log_file that cannot be opened, rotated or not, rather than crash from the logging thread", async () => {
    const folder = await echoNode([...local(), `--log_file=${dir}`]);
    expect(folder.code).toBe(1);
    expect(folder.stderrLines, folder.stderrLines.join("\n")).toEqual([
      `echo: cannot start: --log_file ${dir} cannot be opened: EISDIR: illegal operation on a directory; pass a path in a writable folder (TSM_ERR_LOG_FILE)`,
    ]);
    // A file where its folder should be; --log_rotate_size hands the file to pino-roll, which names its own files.
    const file = join(dir, "a-file");
    await writeFile(file, "");
    const rotated = await echoNode([...local(), `--log_file=${file}/user.log`, "--log_rotate_size=1k"]);
    expect(rotated.code).toBe(1);
    expect(rotated.stderrLines, rotated.stderrLines.join("\n")).toEqual([
      `echo: cannot start: --log_file ${file}/user.log cannot be opened: its folder ${file} cannot be created (EEXIST: file already exists); pass a path in a writable folder (TSM_ERR_LOG_FILE)`,
    ]);
  });

  it.skipIf(!existsSync("/dev/full"))(
    "a --log_file that stops taking lines while running (disk full) is one warning on stderr; the service keeps serving",
    async () => {
      const port = await closedPort();
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          join(repoRoot, "test/fixtures/echo-node.ts"),
          ...local(),
          `--server_address=127.0.0.1:${port}`,
          "--log_file=/dev/full",
        ],
        { cwd: repoRoot, env: { ...process.env, NODE_OPTIONS: "" }, stdio: ["ignore", "ignore", "pipe"] },
      );
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
      try {
        // /dev/full opens, and every write to it fails with ENOSPC, as on a full disk.
        while (!stderr.includes("\n") && child.exitCode === null) await sleep(20);
        expect(stderr).toBe(
          "echo: the log file /dev/full (--log_file) cannot be written (ENOSPC: no space left on device, write); the lines logged from now on are lost: free space or fix its folder, then restart the service\n",
        );
        while (!(await accepts(port)) && child.exitCode === null) await sleep(20);
        expect(child.exitCode).toBeNull();
        process.kill(child.pid!, "SIGTERM");
        expect((await exited)[0]).toBe(0);
        expect(stderr.split("\n").filter(Boolean)).toHaveLength(1);
      } finally {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL");
      }
    },
  );

  it("tsmicro api on a taken --address, before it loads any service's routes", async () => {
    await startNode("test/fixtures/echo-node.ts", local());
    try {
      const exit = await runToExit(bins.tsmicro, ["api", ...local(), `--address=127.0.0.1:${takenPort}`], false);
      expect(exit.code).toBe(1);
      expect(exit.stderrLines, exit.stderrLines.join("\n")).toEqual([
        `api: cannot start: --address 127.0.0.1:${takenPort} is in use by another process; choose another port or stop it (TSM_ERR_ADDRESS_IN_USE)`,
      ]);
      expect(exit.stdout).not.toContain("gateway routes");
    } finally {
      await killAllNodes();
    }
  });

  it("tsmicro api refuses a flag it does not read, as every flag given is its own", async () => {
    const exit = await runToExit(bins.tsmicro, ["api", ...local(), "--foo=bar"], false);
    expect(exit.code).toBe(1);
    expect(exit.stderrLines, exit.stderrLines.join("\n")).toEqual([
      "tsmicro: unknown flag --foo: tsmicro api has no such flag; see tsmicro api --help",
    ]);
    // go-micro's spelling of --namespace is one of its flags.
    const namespaced = await runToExit(
      bins.tsmicro,
      ["api", ...local(), "--api_namespace=api.micro.platform.web", `--address=127.0.0.1:${takenPort}`],
      false,
    );
    expect(namespaced.stderrLines.join("\n")).toContain("TSM_ERR_ADDRESS_IN_USE");
  });

  it("tsmicro web refuses a flag it does not read, the gateway's among them, as docs/errors.md says", async () => {
    const [unknown, gateways] = await Promise.all([
      runToExit(bins.tsmicro, ["web", ...local(), "--foo=bar"], false),
      runToExit(bins.tsmicro, ["web", ...local(), "--namespace=shop"], false),
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderrLines, unknown.stderrLines.join("\n")).toEqual([
      "tsmicro: unknown flag --foo: tsmicro web has no such flag; see tsmicro web --help",
    ]);
    expect(gateways.stderrLines, gateways.stderrLines.join("\n")).toEqual([
      "tsmicro: unknown flag --namespace: tsmicro web has no such flag; see tsmicro web --help",
    ]);
  });
});

describe("stack traces from the runtime point at files it ships", () => {
  it("the built runtime and gateway refer to no source maps (they would name src/*.ts, not shipped)", async () => {
    for (const dist of [join(repoRoot, "runtime/dist"), join(repoRoot, "runtime/gateway/dist")]) {
      const files = (await readdir(dist, { recursive: true })).filter((file) => file.endsWith(".js"));
      expect(files.length).toBeGreaterThan(10);
      for (const file of files)
        expect(await readFile(join(dist, file), "utf8"), file).not.toContain("sourceMappingURL");
    }
  });
});
