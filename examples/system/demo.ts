/**
 * `npm run demo`: the login system of the Micro API framework on tsmicro. It
 * generates the services' code, starts config first, then auth, user and
 * the user API (a web service), then `tsmicro api --handler web
 * --api_namespace api.micro.platform.web` on 127.0.0.1:8080 (`--port N`),
 * waits until every one has registered, logs in as the seeded user micro /
 * 123 with the original curl and prints the answer, and keeps everything
 * running until Ctrl-C (with `--once`, it stops at once). Every other flag
 * goes to each process: `--registry etcd --registry_address 127.0.0.1:2379`,
 * `--broker nats --broker_address 127.0.0.1:4222`. Each process's log is in
 * .demo/logs/.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const tsmicro = join(here, "../../dist/bin/tsmicro.js");
const logs = join(here, ".demo", "logs");

const { values } = parseArgs({
  options: { once: { type: "boolean", default: false }, port: { type: "string", default: "8080" } },
  strict: false,
});
/** The flags for the services and the gateway: everything but the demo's own. */
const passed = process.argv.slice(2).filter((arg, at, args) => {
  if (arg === "--once" || arg.startsWith("--port=")) return false;
  return arg !== "--port" && args[at - 1] !== "--port";
});
const gatewayAddress = `127.0.0.1:${values.port}`;

interface Running {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}
const running: Running[] = [];

/** Starts `args` in `cwd` with its output in .demo/logs/NAME.log; resolves once it logs `ready`. */
async function start(name: string, cwd: string, args: readonly string[], ready: RegExp): Promise<void> {
  const log = createWriteStream(join(logs, `${name}.log`));
  const child = spawn(process.execPath, [...args, ...passed], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  running.push({ name, child, exited });
  child.stderr?.pipe(log);
  let seen = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      log.write(chunk);
      seen = (seen + chunk.toString()).slice(-4096);
      if (ready.test(seen)) resolve();
    });
    void exited.then((code) =>
      reject(new Error(`${name} exited with code ${code} before it was ready: see ${join(logs, `${name}.log`)}`)),
    );
  });
  console.log(`  ${name.padEnd(8)} started (pid ${child.pid})`);
}

/** Stops every process with SIGTERM, the last started first, each deregistering as on its own Ctrl-C. */
async function stopAll(): Promise<void> {
  for (const { child, exited } of running.reverse()) {
    child.kill("SIGTERM");
    await exited;
  }
}

async function curl(path: string, init: RequestInit & { shown: string }): Promise<unknown> {
  console.log(`\n$ curl ${init.shown}`);
  const response = await fetch(`http://${gatewayAddress}${path}`, init);
  const body = (await response.json().catch(() => undefined)) as unknown;
  console.log(`${response.status} ${JSON.stringify(body, null, 2)}`);
  return body;
}

/** The commands to try next, with the flags the system was started with where each command takes them. */
function printWhatToTry(userId: string): void {
  const all = passed.length > 0 ? ` ${passed.join(" ")}` : "";
  // tsmicro list and call take the registry's flags, not the broker's.
  const registry = passed.filter((arg, at) => /^--registry/.test(arg) || /^--registry/.test(passed[at - 1] ?? ""));
  const cli = registry.length > 0 ? ` ${registry.join(" ")}` : "";
  const name = `user${Date.now() % 100_000}`;
  const auth = running.find((started) => started.name === "auth")?.child.pid;
  console.log(`
The system is up: config, auth, user, the user API and the gateway at http://${gatewayAddress}.
Try, from the repository's root:
  curl -X POST http://${gatewayAddress}/user/register -d 'userName=${name}&pwd=s3cret'
  curl -X POST http://${gatewayAddress}/user/login -d 'userName=${name}&pwd=s3cret'
  npx tsmicro list services${cli}
  npx tsmicro call user UserService.GetUser '{"user_id":"${userId}"}'${cli}
  npx tsmicro web${cli}     # the dashboard on http://127.0.0.1:8082 (--address moves it)
  kill ${auth}     # stops auth: logins answer 503 from the breaker's fallback until it is back:
  (cd examples/system/services/auth && node --import tsx src/main.ts${all})
`);
}

const service = (name: string) => join(here, "services", name);
try {
  await mkdir(logs, { recursive: true });
  console.log("$ tsmicro generate");
  execFileSync(process.execPath, [tsmicro, "generate"], { cwd: here, stdio: ["ignore", "ignore", "inherit"] });
  console.log(`\nstarting the system (logs in ${logs}):`);
  const main = ["--import", "tsx", "src/main.ts"];
  // config first: auth and user read their settings from it as they start.
  await start("config", service("config"), main, /"msg":"config started"/);
  await Promise.all([
    start("auth", service("auth"), main, /"msg":"auth started"/),
    start("user", service("user"), main, /"msg":"user started"/),
    start("user-api", service("user-api"), main, /"msg":"api\.micro\.platform\.web\.user started"/),
  ]);
  const api = [
    tsmicro,
    "api",
    "--handler=web",
    "--api_namespace=api.micro.platform.web",
    `--address=${gatewayAddress}`,
  ];
  await start("api", here, api, /"msg":"gateway started"/);

  const login = (await curl("/user/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "userName=micro&pwd=123",
    shown: `-X POST http://${gatewayAddress}/user/login -H 'Content-Type: application/x-www-form-urlencoded' --data 'userName=micro&pwd=123'`,
  })) as { token?: string; user?: { user_id: string } } | undefined;
  if (!login?.token) throw new Error("the seeded user could not log in");
  await curl("/user/me", {
    headers: { authorization: `Bearer ${login.token}` },
    shown: `http://${gatewayAddress}/user/me -H 'Authorization: Bearer <the token>'`,
  });

  if (!values.once) printWhatToTry(login.user?.user_id ?? "");
  if (values.once) {
    await stopAll();
  } else {
    console.log("Ctrl-C stops everything.");
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    await stopAll();
  }
} catch (error) {
  console.error(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}`);
  await stopAll();
  process.exitCode = 1;
}
