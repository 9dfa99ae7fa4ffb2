/**
 * Logs end to end: HTTP -> gateway -> a service whose handler logs carelessly (the whole request
 * and the call's metadata), everything at level trace, every line captured. A call carrying a
 * bearer JWT, a cookie, a password field and a token in the query leaves none of them in any
 * line, and the handler's line carries the trace id the gateway answered with.
 */
import { Writable } from "node:stream";
import {
  Code,
  createLogger,
  createMemoryRegistry,
  createService,
  TsmicroError,
  type CallContext,
  type Logger,
} from "@tsmicro/runtime";
import { createGateway } from "@tsmicro/gateway";
import { afterAll, describe, expect, it } from "vitest";
import type { EchoMessage } from "./golden/16-gateway/gateway.js";
import { LibraryDefinition } from "./golden/16-gateway/gateway.micro.js";
import { suiteEnv } from "./support/suite-env.js";

const jwt =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtaWNybyIsImV4cCI6MTk5OTk5OTk5OX0.3cV1dW5oX2hQc2lnbmF0dXJlX2J5dGVz";
const secrets = [jwt, "hunter2", "session=s3cr3t", "s3cr3t", "q-token-123"];

/** A logger at level trace writing every line into `lines`. */
function capturing(lines: string[], service: string): Logger {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  return createLogger({ service, level: "trace", destination });
}

describe("logs keep secrets out and carry the trace id", () => {
  const lines: string[] = [];
  const registry = createMemoryRegistry();
  const service = createService({
    name: "library",
    registry,
    args: [],
    env: suiteEnv(),
    logger: capturing(lines, "library"),
  });
  service.handle(
    LibraryDefinition,
    {
      async echo(request: EchoMessage, context: CallContext) {
        // A careless handler: the whole request and every header the caller sent.
        context.logger.info({ request, metadata: context.metadata }, "echo called");
        if (request.stringValue === "fail") throw new Error(`could not echo for ${context.metadata.authorization}`);
        if (request.stringValue === "refuse") throw new TsmicroError(Code.PERMISSION_DENIED, `bad token ${jwt}`);
        // Words the gateway keeps from its client and logs.
        if (request.stringValue === "unavailable")
          throw new TsmicroError(Code.UNAVAILABLE, `the store refused ${context.metadata.authorization}`);
        return request;
      },
    },
    { partial: true },
  );
  const gateway = createGateway({
    registry,
    args: ["--address=127.0.0.1:0"],
    env: suiteEnv(),
    logger: capturing(lines, "api"),
  });
  afterAll(async () => {
    await gateway.stop();
    await service.stop();
  });

  it("a call with an authorization header, a cookie, a password field and a token in the query", async () => {
    await service.start();
    await gateway.start();
    const call = (stringValue: string) =>
      fetch(`${gateway.url}/v1/echo?access_token=q-token-123`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${jwt}`,
          cookie: "session=s3cr3t",
        },
        body: JSON.stringify({ stringValue, structValue: { user: "micro", password: "hunter2" } }),
      });
    const ok = await call("hello");
    expect(ok.status).toBe(200);
    // The caller gets its own request back: redaction is for logs only.
    expect(((await ok.json()) as { structValue: { password: string } }).structValue.password).toBe("hunter2");
    expect((await call("fail")).status).toBe(500);
    expect((await call("refuse")).status).toBe(403);
    const unavailable = await call("unavailable");
    expect(unavailable.status).toBe(503);
    expect(await unavailable.text()).not.toContain("the store refused");

    const text = lines.join("\n");
    expect(text).toContain("echo called");
    expect(text).toContain("handler failed");
    expect(text).toContain("/v1/echo?access_token=[redacted] failed: the store refused Bearer [redacted]");
    for (const secret of secrets) expect(text, `${secret} in the logs`).not.toContain(secret);
    // What is not secret stays.
    expect(text).toContain('"user":"micro"');

    // The handler's line names the trace the gateway answered with (traceresponse: 00-<trace>-<span>-<flags>).
    const traceId = ok.headers.get("traceresponse")?.split("-")[1];
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const echoLine = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((l) => l.msg === "echo called");
    expect(echoLine).toMatchObject({ service: "library", trace_id: traceId });
  });
});
