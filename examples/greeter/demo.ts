/**
 * `npm run demo`: generates the greeter's code, starts the service on the
 * embedded local registry, finds it and calls it with the tsmicro CLI as a
 * user would, then stops it with SIGTERM.
 */
import { execFileSync, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const tsmicro = join(here, "../../dist/bin/tsmicro.js");
const run = (...args: string[]) => {
  console.log(`\n$ tsmicro ${args.join(" ")}`);
  process.stdout.write(execFileSync("node", [tsmicro, ...args], { cwd: here, encoding: "utf8" }));
};

run("generate");
console.log("\n$ node --import tsx src/main.ts   # the greeter service, in the background");
const service = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
  cwd: here,
  stdio: ["ignore", "pipe", "inherit"],
});
await new Promise<void>((resolve, reject) => {
  service.stdout.on("data", (chunk: Buffer) => {
    process.stdout.write(chunk);
    if (chunk.toString().includes('"msg":"greeter started"')) resolve();
  });
  service.once("exit", (code) => reject(new Error(`the greeter exited with ${code}`)));
});
try {
  run("list", "services");
  run("get", "service", "greeter");
  run("call", "greeter", "Greeter.SayHello", '{"name":"John"}');
  run("call", "greeter", "Greeter.Stream", '{"name":"John","count":2}');
  run("health", "greeter");
} finally {
  service.kill("SIGTERM");
  await new Promise((resolve) => service.once("exit", resolve));
}
