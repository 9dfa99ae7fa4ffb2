import { readdirSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getPriority } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../../../test/support/load.js";
import { RecordingSpan } from "./recording-span.js";
import type { SpanBatching } from "./tracing-settings.js";
import { WorkerExporter } from "./worker-exporter.js";

interface Export {
  readonly names: string[];
  readonly resource: Record<string, unknown>;
}

let server: Server | undefined;
afterEach(() => server?.close());

/** An OTLP/HTTP JSON receiver: each export's span names and resource attributes. */
async function receiver(): Promise<{ url: string; exports: Export[] }> {
  const exports: Export[] = [];
  server = createServer(async (request: IncomingMessage, response) => {
    let body = "";
    for await (const chunk of request) body += String(chunk);
    const resourceSpans = JSON.parse(body).resourceSpans[0];
    exports.push({
      names: resourceSpans.scopeSpans[0].spans.map((span: { name: string }) => span.name),
      resource: Object.fromEntries(
        resourceSpans.resource.attributes.map((a: { key: string; value: { stringValue?: string } }) => [
          a.key,
          a.value.stringValue,
        ]),
      ),
    });
    response.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}/v1/traces`,
    exports,
  };
}

function start(url: string, batch: SpanBatching): Promise<WorkerExporter> {
  return WorkerExporter.start(
    { url, protocol: "http/json", timeoutMs: 2_000, batch },
    { "service.name": "front" },
    "@tsmicro/runtime",
  );
}

/** The nice value of each thread of this process, from /proc. */
function threadNices(): number[] {
  return readdirSync("/proc/self/task").map((thread) => {
    const stat = readFileSync(`/proc/self/task/${thread}/stat`, "utf8");
    // Fields after the command's closing parenthesis; nice is the 19th of the whole line.
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  });
}

function endSpan(exporter: WorkerExporter, name: string): void {
  const context = {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "00f067aa0ba902b7",
    traceFlags: 1,
  };
  new RecordingSpan(context, undefined, name, 1, undefined, undefined, exporter.record).end();
}

describe("WorkerExporter", () => {
  it("sends a batch once it is full, without waiting for the delay, and the rest at shutdown", async () => {
    const { url, exports } = await receiver();
    const exporter = await start(url, { delayMs: 60_000, maxQueueSize: 100, maxBatchSize: 2 });
    for (const name of ["a", "b", "c"]) endSpan(exporter, name);
    await waitFor("the first export", () => exports.length === 1);
    expect(exports).toEqual([
      {
        names: ["a", "b"],
        resource: expect.objectContaining({
          "service.name": "front",
          "telemetry.sdk.language": "nodejs",
        }),
      },
    ]);
    await exporter.shutdown();
    expect(exports.map((e) => e.names)).toEqual([["a", "b"], ["c"]]);
  });

  it("sends what waits after the delay", async () => {
    const { url, exports } = await receiver();
    const exporter = await start(url, { delayMs: 20, maxQueueSize: 100, maxBatchSize: 512 });
    endSpan(exporter, "a");
    await waitFor("the first export", () => exports.length === 1);
    expect(exports.map((e) => e.names)).toEqual([["a"]]);
    await exporter.shutdown();
  });

  it("drops spans beyond the queue while none has left", async () => {
    const { url, exports } = await receiver();
    const exporter = await start(url, { delayMs: 60_000, maxQueueSize: 2, maxBatchSize: 2 });
    for (const name of ["a", "b", "c"]) endSpan(exporter, name);
    await exporter.shutdown();
    expect(exports.map((e) => e.names)).toEqual([["a", "b"]]);
  });

  it.runIf(process.platform === "linux")(
    "exports on a thread of lower priority than the service's (nice 10)",
    async () => {
      const { url } = await receiver();
      const niced = () => threadNices().filter((nice) => nice === 10).length;
      const before = niced();
      const exporter = await start(url, { delayMs: 60_000, maxQueueSize: 100, maxBatchSize: 512 });
      try {
        expect(niced()).toBe(before + 1);
        expect(getPriority()).toBe(0);
      } finally {
        await exporter.shutdown();
      }
    },
  );

  it("says once that the collector took nothing while it runs, and again after it took a batch", async () => {
    let up = true;
    const failures: string[] = [];
    server = createServer((request, response) => {
      request.resume();
      response.writeHead(up ? 200 : 503, { "content-type": "application/json" }).end("{}");
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}/v1/traces`;
    const exporter = await WorkerExporter.start(
      {
        url,
        protocol: "http/json",
        timeoutMs: 2_000,
        batch: { delayMs: 60_000, maxQueueSize: 100, maxBatchSize: 512 },
      },
      { "service.name": "front" },
      "@tsmicro/runtime",
      (error) => failures.push(error.message),
    );
    const exportOne = async (name: string) => {
      endSpan(exporter, name);
      await exporter.forceFlush();
    };
    up = false;
    await exportOne("a");
    await exportOne("b");
    expect(failures).toHaveLength(1);
    up = true;
    await exportOne("c");
    up = false;
    await exportOne("d");
    expect(failures).toHaveLength(2);
    up = true;
    await exporter.shutdown();
  });

  it("rejects at shutdown when the collector took nothing, saying where it was", async () => {
    const { url } = await receiver();
    server!.close();
    await new Promise((resolve) => server!.once("close", resolve));
    const exporter = await start(url, { delayMs: 60_000, maxQueueSize: 100, maxBatchSize: 512 });
    endSpan(exporter, "a");
    await expect(exporter.shutdown()).rejects.toThrow();
  });
});
