import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { AlphaDefinition } from "../../../test/golden/10-services/services.micro.js";
import { silentLogger } from "../logging/logger.js";
import { createH2ServerTransport } from "./h2-server.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("h2 client transport", () => {
  it("keeps a program alive while a call is open or closing, and not once it is closed", async () => {
    const server = createH2ServerTransport({ logger: silentLogger() });
    server.add(AlphaDefinition, async () => {
      await sleep(50);
      return { id: "answered", payload: new Uint8Array(), sequence: 1 };
    });
    const address = await server.listen("127.0.0.1:0");
    cleanups.push(() => server.stop(0));
    const program = fileURLToPath(new URL("./testdata/h2-one-call.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", program, address], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await Promise.race([once(child, "exit"), sleep(20_000).then(() => ["timed out"])])) as [unknown];
    if (code === "timed out") child.kill("SIGKILL");
    const answer = '{"id":"answered","payload":{},"sequence":1}';
    expect({ code, output: output.trim() }).toEqual({
      code: 0,
      output: [...Array(5).fill(answer), "closed"].join("\n"),
    });
  });
});
