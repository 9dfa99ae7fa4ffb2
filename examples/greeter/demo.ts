/**
 * `npm run demo`: generates the greeter's code, starts the service on the
 * embedded local registry, finds it and calls it with the tsmicro CLI as a
 * user would, puts the HTTP gateway (`tsmicro api`) in front of it and calls
 * it over HTTP/JSON, then stops both with SIGTERM.
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
  await throughTheGateway();
} finally {
  service.kill("SIGTERM");
  await new Promise((resolve) => service.once("exit", resolve));
}

/** Starts `tsmicro api` on a free port and calls the greeter over HTTP/JSON as a browser or curl would. */
async function throughTheGateway(): Promise<void> {
  console.log("\n$ tsmicro api --address=127.0.0.1:0   # the HTTP gateway, in the background");
  const api = spawn(process.execPath, [tsmicro, "api", "--address=127.0.0.1:0"], {
    cwd: here,
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const address = await new Promise<string>((resolve, reject) => {
      api.stdout.on("data", (chunk: Buffer) => {
        process.stdout.write(chunk);
        const started = /"address":"([^"]+)","handler":"rpc".*"msg":"gateway started"/.exec(chunk.toString());
        if (started?.[1]) resolve(started[1]);
      });
      api.once("exit", (code) => reject(new Error(`tsmicro api exited with ${code}`)));
    });
    const curl = async (path: string, init?: { method: string; body: string }) => {
      console.log(`\n$ curl${init ? ` -X ${init.method} -d '${init.body}'` : ""} http://${address}${path}`);
      const response = await fetch(`http://${address}${path}`, init);
      const text = await response.text();
      const shown = text.length > 240 ? `${text.slice(0, 240)}…` : text.trimEnd();
      console.log(`${response.status} ${response.headers.get("content-type") ?? ""}\n${shown}`);
      return text;
    };
    await curl("/greeter/hello/John");
    await curl("/greeter/Greeter/SayHello", { method: "POST", body: '{"name":"Jane"}' });
    await curl("/rpc", {
      method: "POST",
      body: '{"service":"greeter","method":"Greeter.SayHello","request":{"name":"Ann"}}',
    });
    await curl("/greeter/greeter/stream?name=Bo&count=2");
    await curl("/greeter/Greeter/SayHello", { method: "POST", body: '{"name":42}' });
    const openApi = JSON.parse(await curl("/openapi.json")) as { paths: Record<string, unknown> };
    console.log(`(the merged OpenAPI document lists ${Object.keys(openApi.paths).join(", ")})`);
  } finally {
    api.kill("SIGTERM");
    await new Promise((resolve) => api.once("exit", resolve));
  }
}
