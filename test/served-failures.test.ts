import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import {
  type CallContext,
  Code,
  createLogger,
  createMemoryRegistry,
  createService,
  isBreakerOpen,
  type MicroService,
  silentLogger,
  TsmicroError,
} from "@tsmicro/runtime";
import { openDatabase } from "@tsmicro/runtime/database";
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AccountServiceDefinition } from "./golden/14-errors/account/v1/account.micro.js";
import type { Request, Response } from "./golden/10-services/services.js";
import { AlphaDefinition, type AlphaHandler } from "./golden/10-services/services.micro.js";
import { startFaultProxy } from "./support/fault-proxy.js";
import { killAllNodes, type NodeProcess, startNode } from "./support/nodes.js";
import { postgresBinDir, type PostgresServer, startPostgres } from "./support/postgres.js";
import { waitFor } from "./support/load.js";
import { suiteEnv } from "./support/suite-env.js";

type LogLine = Record<string, unknown> & { level: number; msg: string };

/** The JSON lines `output` holds that say a served call failed (see logServedFailure). */
function failureLines(output: string): LogLine[] {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine)
    .filter((line) => line.msg.includes(" answered "));
}

/** How many failed calls `lines` tell of: one for each line in full, and those a summary line counts. */
function loggedCalls(lines: LogLine[]): number {
  return lines.reduce((calls, line) => calls + (typeof line.calls === "number" ? line.calls : 1), 0);
}

const transports = ["h2", "grpc"] as const;

/** A promise to resolve once something has started. */
function started(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

describe.each(transports)("a service on --transport=%s whose downstream stops", (transport) => {
  let dir = "";
  let caller: MicroService;
  let back: NodeProcess;
  let front: NodeProcess;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-served-failures-"));
    const flags = ["--registry=local", `--registry_address=${dir}`, `--transport=${transport}`];
    back = await startNode("test/fixtures/account-node.ts", flags, { ACCOUNT_NAME: "account-back" });
    front = await startNode("test/fixtures/account-node.ts", flags, {
      ACCOUNT_NAME: "account-front",
      ACCOUNT_DOWNSTREAM: "account-back",
    });
    caller = createService({
      name: "caller",
      args: [...flags, "--client_retries=0"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
  });

  afterAll(async () => {
    await caller?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("logs nothing for a caller's mistake, then one warn line naming the stopped service", async () => {
    const accounts = caller.client(AccountServiceDefinition, "account-front");
    await expect(accounts.get({ id: "" })).rejects.toMatchObject({ code: Code.INVALID_ARGUMENT });
    await expect(accounts.get({ id: "42" })).rejects.toMatchObject({ code: Code.NOT_FOUND });
    back.kill("SIGTERM");
    await back.exited;
    await expect(accounts.get({ id: "1" })).rejects.toMatchObject({ code: Code.UNAVAILABLE });

    await waitFor("account-front's line about its failed call", () => failureLines(front.output()).length > 0);
    // Lines come in order: the mistakes' calls, answered before, logged nothing in either service.
    expect(failureLines(front.output())).toEqual([
      expect.objectContaining({
        level: 40,
        service: "account-front",
        method: "/fixtures.account.v1.AccountService/Get",
        code: "UNAVAILABLE",
        failedService: "account-back",
        msg: expect.stringMatching(
          /^fixtures\.account\.v1\.AccountService\/Get answered UNAVAILABLE, passing on the failure of its call of account-back: ./,
        ),
      }),
    ]);
    expect(failureLines(back.output())).toEqual([]);
    expect(front.output()).not.toMatch(/"level":50/);
  });

  it("writes no warn line per call, before its breaker for the stopped service opened (summed up) or after (the breaker said so)", async () => {
    const accounts = caller.client(AccountServiceDefinition, "account-front");
    const before = failureLines(front.output()).length;
    let passedOn = 0;
    let refused = 0;
    // Until the breaker opens (its default volume and ratio), then ten of its refusals.
    for (let calls = 0; refused < 10 && calls < 200; calls++) {
      const error = await accounts.get({ id: "1" }).catch((e: unknown) => e);
      if (isBreakerOpen(error)) refused++;
      else passedOn++;
    }
    expect(refused).toBe(10);
    // Stopped, it has written every line it had, and summed up the calls it counted.
    front.kill("SIGTERM");
    await front.exited;
    const lines = failureLines(front.output()).slice(before);
    expect(lines.every((line) => line.level === 40 && line.failedService === "account-back")).toBe(true);
    expect(loggedCalls(lines)).toBe(passedOn);
    expect(lines.length).toBeLessThan(passedOn);
    expect(front.output()).toMatch(/circuit breaker for account-back \/fixtures.account.v1.AccountService\/Get opened/);
  });
});

describe.each(transports)("a service on --server_transport=%s logs the calls it failed", (transport) => {
  const registry = createMemoryRegistry();
  const lines: LogLine[] = [];
  // Resolved by the handler of a call `cancelled` once it runs, for the test to cancel it then.
  let cancelledStarted = started();
  let server: MicroService;
  let caller: MicroService;

  /** Waits for the served call's signal to abort (its deadline, or the caller's cancel). */
  const aborted = (context: CallContext) =>
    new Promise<void>((resolve) => context.signal.addEventListener("abort", () => resolve(), { once: true }));

  /** The failure a request id names: `code:N` a TsmicroError with code N, `bug` an Error. */
  const failure = (request: Request): Error =>
    request.id === "bug"
      ? new Error("a bug")
      : new TsmicroError(Number(request.id.slice("code:".length)) as Code, `failed with ${request.id}`);

  const handler: AlphaHandler = {
    async unary(request, context): Promise<Response> {
      if (request.id === "late") {
        // Answers, but only once the deadline passed.
        await aborted(context);
        return { id: "late", payload: new Uint8Array(), sequence: 0 };
      }
      if (request.id === "cancelled") {
        cancelledStarted.resolve();
        await aborted(context);
        throw new TsmicroError(Code.UNAVAILABLE, "stopped waiting");
      }
      throw failure(request);
    },
    async *serverStream(request) {
      yield { id: request.id, payload: new Uint8Array(), sequence: 1 };
      throw failure(request);
    },
    async clientStream(requests) {
      for await (const chunk of requests) throw new TsmicroError(Code.UNAVAILABLE, `chunk of ${chunk.data.length}`);
      return { totalBytes: 0n, chunkCount: 0 };
    },
    async *bidiStream(requests) {
      // One answer, then the failure: a stream that fails after its first message is logged too.
      for await (const request of requests) {
        yield { id: request.id, payload: new Uint8Array(), sequence: 1 };
        throw failure(request);
      }
    },
  };

  beforeAll(async () => {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as LogLine);
        done();
      },
    });
    server = createService({
      name: "served",
      args: [`--server_transport=${transport}`, "--metrics_address=off"],
      env: suiteEnv(),
      registry,
      logger: createLogger({ service: "served", destination }),
    });
    server.handle(AlphaDefinition, handler);
    await server.start();
    caller = createService({
      name: "caller",
      args: ["--client_retries=0", "--metrics_address=off"],
      env: suiteEnv(),
      registry,
      logger: silentLogger(),
    });
  });

  afterAll(async () => {
    await caller?.stop();
    await server?.stop();
  });

  beforeEach(() => {
    lines.length = 0;
  });

  /** The lines saying a served call failed since the last look, once the one with `code` came. */
  async function linesUntil(code: string): Promise<LogLine[]> {
    await waitFor(`a line with code ${code}`, () => lines.some((line) => line.code === code));
    const logged = lines.filter((line) => line.msg.includes(" answered "));
    lines.length = 0;
    return logged;
  }

  it("logs a unary call's failure by its code: warn, error for its own INTERNAL, nothing for a caller's mistake", async () => {
    const alpha = caller.client(AlphaDefinition, "served");
    const call = (id: string) => alpha.unary({ id, payload: new Uint8Array() }).catch((error: unknown) => error);
    await call(`code:${Code.INVALID_ARGUMENT}`);
    await call(`code:${Code.NOT_FOUND}`);
    await call(`code:${Code.INTERNAL}`);
    await call(`code:${Code.UNAVAILABLE}`);
    const logged = await linesUntil("UNAVAILABLE");
    expect(logged.map(({ level, code, method }) => ({ level, code, method }))).toEqual([
      { level: 50, code: "INTERNAL", method: "/fixtures.services.v1.Alpha/Unary" },
      { level: 40, code: "UNAVAILABLE", method: "/fixtures.services.v1.Alpha/Unary" },
    ]);
    expect(logged[0]).not.toHaveProperty("err");
  });

  it("leaves a handler's bug to the transport's one line, with its stack", async () => {
    const alpha = caller.client(AlphaDefinition, "served");
    await expect(alpha.unary({ id: "bug", payload: new Uint8Array() })).rejects.toMatchObject({ code: Code.INTERNAL });
    await alpha.unary({ id: `code:${Code.DATA_LOSS}`, payload: new Uint8Array() }).catch(() => undefined);
    expect(await linesUntil("DATA_LOSS")).toEqual([
      expect.objectContaining({
        level: 50,
        msg: "handler failed; answered INTERNAL",
        err: expect.objectContaining({ message: "a bug" }),
      }),
      expect.objectContaining({ level: 50, code: "DATA_LOSS" }),
    ]);
  });

  it("logs a call answered after its deadline, and not one its caller cancelled", async () => {
    const alpha = caller.client(AlphaDefinition, "served");
    const cancel = new AbortController();
    cancelledStarted = started();
    const cancelled = alpha.unary({ id: "cancelled", payload: new Uint8Array() }, { signal: cancel.signal });
    await cancelledStarted.promise;
    cancel.abort();
    await expect(cancelled).rejects.toMatchObject({ code: Code.CANCELLED });
    await expect(alpha.unary({ id: "late", payload: new Uint8Array() }, { timeoutMs: 200 })).rejects.toMatchObject({
      code: Code.DEADLINE_EXCEEDED,
    });
    expect(await linesUntil("DEADLINE_EXCEEDED")).toEqual([
      expect.objectContaining({ level: 40, code: "DEADLINE_EXCEEDED", method: "/fixtures.services.v1.Alpha/Unary" }),
    ]);
  });

  it("logs a failed server stream, client stream and bidi stream", async () => {
    const alpha = caller.client(AlphaDefinition, "served");
    const drain = async (stream: AsyncIterable<unknown>) => {
      try {
        for await (const _ of stream);
      } catch {
        // The failure is the point.
      }
    };
    await drain(alpha.serverStream({ id: `code:${Code.UNAVAILABLE}`, payload: new Uint8Array() }));
    expect(await linesUntil("UNAVAILABLE")).toEqual([
      expect.objectContaining({ level: 40, code: "UNAVAILABLE", method: "/fixtures.services.v1.Alpha/ServerStream" }),
    ]);
    async function* chunks() {
      yield { data: new Uint8Array(3) };
    }
    await alpha.clientStream(chunks()).catch(() => undefined);
    expect(await linesUntil("UNAVAILABLE")).toEqual([
      expect.objectContaining({ level: 40, code: "UNAVAILABLE", method: "/fixtures.services.v1.Alpha/ClientStream" }),
    ]);
    async function* requests(id: string) {
      yield { id, payload: new Uint8Array() };
    }
    await drain(alpha.bidiStream(requests(`code:${Code.PERMISSION_DENIED}`)));
    await drain(alpha.bidiStream(requests(`code:${Code.UNIMPLEMENTED}`)));
    expect(await linesUntil("UNIMPLEMENTED")).toEqual([
      expect.objectContaining({ level: 40, code: "UNIMPLEMENTED", method: "/fixtures.services.v1.Alpha/BidiStream" }),
    ]);
  });
});

describe.skipIf(!postgresBinDir)("a service whose PostgreSQL cannot be reached while it serves", () => {
  let server: PostgresServer;
  const cleanups: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await server?.stop();
  });

  /**
   * A service `store` logging as a scaffolded main.ts does, whose one method queries PostgreSQL
   * through a fault proxy, called once to warm its pool, and a client of it with no breaker or
   * retry: every call reaches the service, as at full request rate.
   */
  async function serveThroughProxy() {
    const lines: LogLine[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as LogLine);
        done();
      },
    });
    // One logger for the service and its database, as a scaffolded main.ts wires them.
    const logger = createLogger({ service: "store", destination });
    const proxy = await startFaultProxy(server.url.replace(/^postgres:\/\/postgres@|\/postgres$/g, ""));
    cleanups.push(() => proxy.close());
    const database = await openDatabase<object>({ url: `postgres://postgres@${proxy.address}/postgres`, logger });
    cleanups.push(() => database.close());
    const registry = createMemoryRegistry();
    const store = createService({ name: "store", registry, args: ["--metrics_address=off"], env: suiteEnv(), logger });
    store.handle(
      AlphaDefinition,
      {
        unary: async (request) => {
          await sql`select 1`.execute(database.db);
          return { id: request.id, payload: request.payload, sequence: 0 };
        },
      },
      { partial: true },
    );
    await store.start();
    cleanups.push(() => store.stop());
    // No breaker of the caller's stops the calls: every one reaches the service, as at full request rate.
    const caller = createService({
      name: "caller",
      registry,
      args: ["--client_retries=0", "--metrics_address=off"],
      env: suiteEnv(),
      logger: silentLogger(),
      breaker: false,
    });
    cleanups.push(() => caller.stop());
    const alpha = caller.client(AlphaDefinition, "store");
    await expect(alpha.unary({ id: "warm", payload: new Uint8Array() })).resolves.toMatchObject({ id: "warm" });
    return { lines, proxy, store, alpha };
  }

  it("logs the outage once and the first failed call in full, naming postgres, and sums up the others rather than a line per call", async () => {
    const { lines, proxy, store, alpha } = await serveThroughProxy();

    proxy.refuse(true);
    proxy.reset();
    const started = Date.now();
    const calls = 40;
    for (let call = 0; call < calls; call++)
      await expect(alpha.unary({ id: String(call), payload: new Uint8Array() })).rejects.toMatchObject({
        code: Code.UNAVAILABLE,
      });
    // Stopped, the service has said the calls it counted.
    await store.stop();
    const elapsedMs = Date.now() - started;

    expect(
      lines.filter((line) => line.msg === "the database cannot be reached; calls that use it fail UNAVAILABLE"),
    ).toHaveLength(1);
    const failed = lines.filter((line) => line.msg.includes(" answered "));
    // The first says what failed, with the call's method.
    expect(failed[0]).toMatchObject({
      level: 40,
      method: "/fixtures.services.v1.Alpha/Unary",
      code: "UNAVAILABLE",
      failedService: "postgres",
      msg: expect.stringMatching(
        /^fixtures\.services\.v1\.Alpha\/Unary answered UNAVAILABLE, passing on the failure of its call of postgres: the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres cannot be reached /,
      ),
    });
    expect(failed.slice(1)).toEqual(
      failed.slice(1).map(() =>
        expect.objectContaining({
          level: 40,
          method: "/fixtures.services.v1.Alpha/Unary",
          failedService: "postgres",
          msg: expect.stringMatching(
            /^fixtures\.services\.v1\.Alpha\/Unary answered UNAVAILABLE to \d+ more calls? in the last \d+ s, passing on the failure of their calls of postgres; the last: the PostgreSQL server at /,
          ),
        }),
      ),
    );
    // Every call told of, in a line per window of 10 s, not a line per call.
    expect(loggedCalls(failed)).toBe(calls);
    expect(failed.length).toBeLessThanOrEqual(2 + Math.floor(elapsedMs / 10_000));
  }, 60_000);

  it("logs the first failed call of an outage after the database answered again in full, not in the last outage's count", async () => {
    const { lines, proxy, alpha } = await serveThroughProxy();
    const call = (id: string) => alpha.unary({ id, payload: new Uint8Array() }).catch((error: unknown) => error);
    for (const outage of ["first", "second"]) {
      proxy.refuse(true);
      proxy.reset();
      for (let i = 0; i < 3; i++) expect(await call(`${outage} ${i}`)).toMatchObject({ code: Code.UNAVAILABLE });
      proxy.refuse(false);
      await waitFor("the database answering calls", async () => !((await call("after")) instanceof Error));
    }
    // Each outage: its first failure in full, its others summed up before the database's own "answers again".
    const said = lines
      .filter((line) => line.msg.includes(" answered ") || line.msg === "the database answers again")
      .map((line) =>
        line.calls !== undefined ? `${line.calls} more` : line.msg.includes(" answered ") ? "full" : "again",
      );
    expect(said).toEqual(["full", "2 more", "again", "full", "2 more", "again"]);
  }, 60_000);
});
