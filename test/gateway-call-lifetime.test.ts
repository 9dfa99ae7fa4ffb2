/**
 * How long a call through the HTTP gateway lives: the deadlines it gets, and what cancels it.
 * Real HTTP to in-process gateways, real gRPC to an in-process `keeper` service (fixture 16's
 * Library, found through a local registry folder) whose handlers say what deadline each call
 * came with and count the calls their caller cancelled.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { Writable } from "node:stream";
import {
  type CallContext,
  createLogger,
  createService,
  type HandlerOf,
  type MicroService,
  silentLogger,
} from "@tsmicro/runtime";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Book } from "./golden/16-gateway/gateway.js";
import { LibraryDefinition } from "./golden/16-gateway/gateway.micro.js";
import { settlesWithin } from "../runtime/gateway/src/graceful-close.js";
import { killAllNodes, loggedBy, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

/** What a handler says of its call's deadline: `deadline in <ms> ms`, or `no deadline`. */
function deadlineOf(context: CallContext): string {
  return context.deadline ? `deadline in ${context.deadline.getTime() - Date.now()} ms` : "no deadline";
}

/** The milliseconds a `deadline in <ms> ms` names; undefined for `no deadline`. */
function deadlineMs(text: string): number | undefined {
  const ms = /^deadline in (-?\d+) ms$/.exec(text)?.[1];
  return ms === undefined ? undefined : Number(ms);
}

/** Resolves once `signal` aborts or `ms` have passed, whichever comes first. */
function abortedOrAfter(signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Whether a new connection to `host:port` is refused: nothing listens there any more. */
function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(port, host);
    probe.once("connect", () => {
      probe.destroy();
      setTimeout(resolve, 50, false);
    });
    probe.once("error", () => resolve(true));
  });
}

async function until(what: string, probe: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The first chunk of an open streaming answer, decoded, and a way to read the rest. */
async function openStream(url: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const response = await fetch(url, { headers, signal: abort.signal });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const first = decoder.decode((await reader.read()).value);
  return {
    response,
    first,
    /** Everything after the first chunk, to the end of the answer. */
    async rest(): Promise<string> {
      let text = "";
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
        text += decoder.decode(chunk.value, { stream: true });
      return text;
    },
    close: () => abort.abort(),
  };
}

describe("a call through the gateway", () => {
  let dir = "";
  let flags: string[] = [];
  let keeper: MicroService;
  const gateways: Gateway[] = [];
  /** A gateway with default settings. */
  let plain: Gateway;
  /** A gateway whose unary calls have a minute, so that only what a test does ends a call sooner. */
  let patient: Gateway;
  /** Calls of keeper's handlers that saw their caller cancel before their deadline. */
  const cancelled = { unary: 0, streams: 0 };
  /** Calls of keeper's GetShelf that wait (shelf `hang`, `slow` or `held`), running now. */
  let waiting = 0;
  /** Lets the calls of shelf `held` answer. */
  let letHeldGo = () => {};
  let heldGo = Promise.resolve();

  /** A gateway on the suite's registry with `args`, started; stopped after the suite. */
  async function gateway(...args: string[]): Promise<Gateway> {
    return loggingGateway([], ...args);
  }

  /** A gateway that logs to `lines`. */
  async function loggingGateway(lines: Record<string, unknown>[], ...args: string[]): Promise<Gateway> {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const started = createGateway({
      args: [...flags, "--address=127.0.0.1:0", "--metrics_address=off", ...args],
      env: suiteEnv(),
      logger: createLogger({ destination }),
    });
    gateways.push(started);
    await started.start();
    return started;
  }

  /** Counts a call its caller cancelled before its deadline. */
  function countCancel(context: CallContext, kind: keyof typeof cancelled): void {
    if (context.signal.aborted && (!context.deadline || context.deadline.getTime() > Date.now())) cancelled[kind]++;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gw-lifetime-"));
    flags = ["--registry=local", `--registry_address=${dir}`];
    keeper = createService({
      name: "keeper",
      args: [...flags, "--shutdown_grace=1s"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    const library = {
      // Answers with its deadline; shelf `hang` first waits to be cancelled (a minute at most), `slow` half a
      // second, `held` until the test lets it go (or it is cancelled).
      async getShelf(request: { shelf: string }, context: CallContext) {
        const deadline = deadlineOf(context);
        const waitMs = { hang: 60_000, slow: 500, held: 60_000 }[request.shelf];
        if (waitMs !== undefined) {
          waiting++;
          await Promise.race([abortedOrAfter(context.signal, waitMs), ...(request.shelf === "held" ? [heldGo] : [])]);
          waiting--;
          countCancel(context, "unary");
        }
        return { name: deadline };
      },
      // Book i titled with the call's deadline, every 50 ms until cancelled (a minute at most).
      async *streamBooks(request: { shelf: string }, context: CallContext): AsyncIterable<Book> {
        const title = deadlineOf(context);
        try {
          for (let i = 1; i <= 1_200 && !context.signal.aborted; i++) {
            yield {
              name: `shelves/${request.shelf}/books/${i}`,
              title,
              author: "",
              read: false,
              pages: i,
              genre: 0,
              tags: [],
            };
            await abortedOrAfter(context.signal, 50);
          }
        } finally {
          countCancel(context, "streams");
        }
      },
    };
    keeper.handle(LibraryDefinition, library as unknown as HandlerOf<typeof LibraryDefinition>, { partial: true });
    await keeper.start();
    [plain, patient] = await Promise.all([gateway(), gateway("--client_request_timeout=1m")]);
  });

  afterAll(async () => {
    await Promise.allSettled(gateways.map((g) => g.stop()));
    await killAllNodes();
    await keeper?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe("server streams", () => {
    it("have no deadline when --client_stream_timeout sets none", async () => {
      const stream = await openStream(`${plain.url}/keeper/Library/StreamBooks?shelf=s`);
      stream.close();
      expect(stream.response.status).toBe(200);
      expect(JSON.parse(stream.first.split("\n")[0]!)).toMatchObject({ result: { title: "no deadline" } });
    });

    it("end at --client_stream_timeout with a DEADLINE_EXCEEDED line", async () => {
      const timed = await gateway("--client_stream_timeout=1s");
      const stream = await openStream(`${timed.url}/keeper/Library/StreamBooks?shelf=s`);
      try {
        const title = (JSON.parse(stream.first.split("\n")[0]!) as { result: Book }).result.title;
        expect(deadlineMs(title)).toBeGreaterThan(0);
        expect(deadlineMs(title)).toBeLessThanOrEqual(1_000);
        const lines = `${stream.first}${await stream.rest()}`.trimEnd().split("\n");
        expect(JSON.parse(lines.at(-1)!)).toMatchObject({ error: { code: 4 } });
      } finally {
        stream.close();
      }
    });
  });

  /** Whether the services here serve on grpc-js (see suiteEnv), which reads grpc-timeout into a 32-bit integer. */
  const grpcJsServer = (suiteEnv().TSMICRO_SERVER_TRANSPORT ?? suiteEnv().TSMICRO_TRANSPORT) === "grpc";

  describe("unary calls", () => {
    it("an HTTP client going away cancels the backend's call", async () => {
      const before = cancelled.unary;
      const abort = new AbortController();
      const answer = fetch(`${patient.url}/keeper/Library/GetShelf?shelf=hang`, { signal: abort.signal }).catch(
        () => "aborted",
      );
      await until("keeper runs the call", () => waiting > 0);
      abort.abort();
      expect(await answer).toBe("aborted");
      await until("keeper sees its call cancelled", () => cancelled.unary > before, 10_000);
    });

    it.each<[string, number]>([
      ["2S", 2_000],
      ["1500m", 1_500],
      // Longer than --client_request_timeout (5 s by default): grpc-gateway takes the header as it is.
      ["1M", 60_000],
      ["1H", 3_600_000],
      // Further away than a timer can wait (2^31-1 ms), on the gateway's client and on the service;
      // grpc-js's server reads such a grpc-timeout into a 32-bit integer, so not on it.
      ...(grpcJsServer
        ? []
        : ([
            ["24000H", 24_000 * 3_600_000],
            ["99999999S", 99_999_999_000],
          ] as [string, number][])),
    ])("a Grpc-Timeout header of %s is the call's deadline", async (header, ms) => {
      // Half a second of work: a timer given more than it can wait would have fired after 1 ms.
      const answer = await fetch(`${plain.url}/keeper/Library/GetShelf?shelf=slow`, {
        headers: { "grpc-timeout": header },
      });
      expect(answer.status).toBe(200);
      const left = deadlineMs(((await answer.json()) as { name: string }).name);
      // Sent on in whole seconds past 1e8 ms (grpc-timeout has 8 digits), rounded down.
      expect(left).toBeGreaterThan(ms - 2_000);
      expect(left).toBeLessThanOrEqual(ms);
    });

    it("a call its Grpc-Timeout runs out on answers 504 DEADLINE_EXCEEDED", async () => {
      // Well before the gateway's own minute would have ended it.
      const answer = await fetch(`${patient.url}/keeper/Library/GetShelf?shelf=hang`, {
        headers: { "grpc-timeout": "200m" },
        signal: AbortSignal.timeout(20_000),
      });
      expect(answer.status).toBe(504);
      expect(await answer.json()).toMatchObject({ code: 4 });
    });

    it.each(["soon", "1.5S", "5s", "123456789m", "-1S", "S"])(
      "a malformed Grpc-Timeout (%s) is 400, naming the header and the format",
      async (header) => {
        const answer = await fetch(`${plain.url}/keeper/Library/GetShelf?shelf=s`, {
          headers: { "grpc-timeout": header },
        });
        expect(answer.status).toBe(400);
        expect(await answer.json()).toMatchObject({
          code: 3,
          message: `the Grpc-Timeout header ${JSON.stringify(header)} is not a gRPC timeout: give 1 to 8 digits and a unit, H (hours), M (minutes), S (seconds), m (milliseconds), u (microseconds) or n (nanoseconds), such as 30S or 500m`,
        });
      },
    );

    it("a Grpc-Timeout header bounds a server stream too", async () => {
      const stream = await openStream(`${plain.url}/keeper/Library/StreamBooks?shelf=s`, {
        "grpc-timeout": "2S",
      });
      stream.close();
      const title = (JSON.parse(stream.first.split("\n")[0]!) as { result: Book }).result.title;
      expect(deadlineMs(title)).toBeGreaterThan(1_000);
      expect(deadlineMs(title)).toBeLessThanOrEqual(2_000);
    });
  });

  describe("the gateway stopping", () => {
    it("lets a request in flight finish, and its kept-alive connection does not hold the stop", async () => {
      const lines: Record<string, unknown>[] = [];
      const stopping = await loggingGateway(lines, "--shutdown_grace=30s");
      const answer = fetch(`${stopping.url}/keeper/Library/GetShelf?shelf=slow`);
      await until("keeper runs the call", () => waiting > 0);
      const stopped = stopping.stop();
      const response = await answer;
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ name: expect.stringMatching(/^deadline in/) });
      // Answered, its connection is kept alive (by fastify for 72 s, by the client about as long): the stop
      // closes it rather than waiting for it, well within the 30 s grace.
      expect(await settlesWithin(stopped, 20_000)).toBe(true);
      expect(lines.map((line) => line.msg)).not.toContain(
        "requests still in flight after the shutdown grace (--shutdown_grace); cancelling them",
      );
    });

    it("answers a request that comes on an open connection once the listener closed with its own 503, not fastify's", async () => {
      const stopping = await gateway("--shutdown_grace=30s");
      const { hostname, port } = new URL(stopping.url!);
      const socket = connect(Number(port), hostname);
      let received = "";
      socket.on("data", (chunk: Buffer) => {
        received += chunk.toString();
      });
      const ended = new Promise((resolve) => socket.once("close", resolve));
      const get = (path: string) => `GET ${path} HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`;
      // Held until the second request is on its way, however long the listener takes to close: answered
      // before, its kept-alive connection would be closed with the listener.
      heldGo = new Promise((resolve) => {
        letHeldGo = resolve;
      });
      socket.write(get("/keeper/Library/GetShelf?shelf=held"));
      await until("keeper runs the call", () => waiting > 0);
      const stopped = stopping.stop();
      for (let tries = 0; !(await refused(hostname, Number(port))); tries++)
        if (tries > 300) throw new Error("the gateway kept listening");
      // Pipelined behind the call in flight: read once the listener is closed, on a connection still open.
      socket.write(get("/v1/shelves/s1"));
      letHeldGo();
      await ended;
      await stopped;
      const answers = received.split(/(?=HTTP\/1\.1 )/);
      expect(answers).toHaveLength(2);
      expect(answers[0]).toMatch(/^HTTP\/1\.1 200 /);
      expect(answers[1]).toMatch(/^HTTP\/1\.1 503 /);
      expect(answers[1]!.toLowerCase()).toContain("connection: close");
      expect(JSON.parse(answers[1]!.slice(answers[1]!.indexOf("\r\n\r\n") + 4))).toMatchObject({
        code: 14,
        message: "the gateway is shutting down; send requests to another instance",
      });
    });

    it("past --shutdown_grace, ends an open stream with UNAVAILABLE and a unary call with 503, cancelling both backend calls", async () => {
      const lines: Record<string, unknown>[] = [];
      const stopping = await loggingGateway(lines, "--shutdown_grace=1s");
      const before = { ...cancelled };
      const stream = await openStream(`${stopping.url}/keeper/Library/StreamBooks?shelf=s`, {
        accept: "text/event-stream",
      });
      const unary = fetch(`${stopping.url}/keeper/Library/GetShelf?shelf=hang`);
      await until("keeper runs the unary call", () => waiting > 0);
      const stopped = stopping.stop();
      // No new request is taken meanwhile.
      await expect(fetch(`${stopping.url}/keeper/Library/GetShelf?shelf=s`)).rejects.toThrow();

      const events = (await stream.rest()).trimEnd().split("\n\n");
      expect(events.length).toBeGreaterThan(1);
      const last = events.at(-1)!.split("\n");
      expect(last[0]).toBe("event: error");
      // Told as any failure on the servers' side is: try again; the log says why.
      const shuttingDown = { code: 14, message: "the service is unavailable; try again later" };
      expect(JSON.parse(last[1]!.slice("data: ".length))).toMatchObject(shuttingDown);
      const answer = await unary;
      expect(answer.status).toBe(503);
      expect(await answer.json()).toMatchObject(shuttingDown);

      await stopped;
      await until(
        "keeper sees both calls cancelled",
        () => cancelled.streams > before.streams && cancelled.unary > before.unary,
      );
      const cancelling = "requests still in flight after the shutdown grace (--shutdown_grace); cancelling them";
      expect(lines.filter((line) => line.msg === cancelling)).toEqual([
        expect.objectContaining({ level: 40, open: 2 }),
      ]);
      const why = "the gateway is shutting down and the call was still running after 1000 ms (--shutdown_grace)";
      expect(lines.filter((line) => String(line.msg).includes(why)).map((line) => line.url)).toEqual(
        expect.arrayContaining(["/keeper/Library/StreamBooks?shelf=s", "/keeper/Library/GetShelf?shelf=hang"]),
      );
    });

    it("tsmicro api stops on SIGTERM with a stream open: the stream ends with UNAVAILABLE, the process exits 0", async () => {
      const api = await startNode("bin/tsmicro.ts", [
        "api",
        ...flags,
        "--address=127.0.0.1:0",
        "--metrics_address=off",
        "--shutdown_grace=1s",
      ]);
      const stream = await openStream(`http://${api.address}/keeper/Library/StreamBooks?shelf=s`, {
        accept: "text/event-stream",
      });
      api.kill("SIGTERM");
      const last = (await stream.rest()).trimEnd().split("\n\n").at(-1)!;
      expect(last).toMatch(/^event: error\ndata: \{"code":14,"message":"the service is unavailable; try again later"/);
      expect(await api.exited, api.output()).toBe(0);
      expect(loggedBy(api, "gateway stopped")).toHaveLength(1);
    });
  });
});
