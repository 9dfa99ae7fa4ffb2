/**
 * The 14 standard gRPC interop cases (grpc/grpc doc/interop-test-descriptions.md),
 * both ways between tsmicro and Python grpcio: a Python client against a
 * TestService written with tsmicro's public API (test/fixtures/interop-server.ts),
 * and tsmicro's client (createService().client) against a Python TestService
 * (test/fixtures/interop_server.py); each plain and with gzip both ways.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  Code,
  createLocalRegistry,
  createMemoryRegistry,
  createService,
  silentLogger,
  TsmicroError,
  type DeepPartial,
  type Metadata,
  type MicroService,
  type Registry,
} from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StreamingOutputCallRequest } from "./fixtures/interop/gen/grpc/testing/messages.js";
import {
  TestServiceDefinition,
  UnimplementedServiceDefinition,
} from "./fixtures/interop/gen/grpc/testing/test.micro.js";
import { bins, repoRoot, run } from "./support/cli.js";
import { killAllNodes, startNode } from "./support/nodes.js";
import { findFile, findProgram } from "./support/programs.js";
import { suiteEnv } from "./support/suite-env.js";

// Debian's python3 carries python3-grpcio; the python3 first on PATH may be another one.
const python = findFile("/usr/lib/python3/dist-packages/grpc/__init__.py", "python3-grpcio")
  ? "/usr/bin/python3"
  : undefined;
// Each check runs only when the ones before passed, so a bare machine prints one skip line.
const protoc = python ? findProgram("protoc", "protobuf-compiler") : undefined;
const testingProtos =
  protoc && findFile("/usr/share/grpc-proto/grpc/testing/messages.proto", "grpc-proto")
    ? "/usr/share/grpc-proto/grpc/testing"
    : undefined;
const skip = !python || !protoc || !testingProtos;

const cases = [
  "empty_unary",
  "large_unary",
  "client_streaming",
  "server_streaming",
  "ping_pong",
  "empty_stream",
  "custom_metadata",
  "status_code_and_message",
  "special_status_message",
  "unimplemented_method",
  "unimplemented_service",
  "timeout_on_sleeping_server",
  "cancel_after_begin",
  "cancel_after_first_response",
] as const;

type CaseName = (typeof cases)[number];

let work = "";
let generated = "";

beforeAll(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), "tsmicro-interop-"));
  // messages.proto and empty.proto at the root, so their Python modules are
  // not inside grpcio's own `grpc` package.
  generated = join(work, "gen");
  await mkdir(join(work, "protos"));
  await mkdir(generated);
  for (const file of ["messages.proto", "empty.proto"])
    await copyFile(join(testingProtos!, file), join(work, "protos", file));
  // For the server's reflection (--reflection): the reflection protocol, and a file declaring the service.
  await copyFile(join(testingProtos!, "../reflection/v1/reflection.proto"), join(work, "protos", "reflection.proto"));
  await writeFile(join(work, "protos", "test_service.proto"), testServiceProto);
  const result = await run(protoc!, [
    `--python_out=${generated}`,
    "-I",
    join(work, "protos"),
    "messages.proto",
    "empty.proto",
    "reflection.proto",
    "test_service.proto",
  ]);
  expect(result.code, result.stderr).toBe(0);
});

afterAll(async () => {
  await killAllNodes();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Runs the Python interop client's cases against `address`; its result per case. */
async function pythonClient(address: string, gzip: boolean): Promise<Record<string, string>> {
  const result = await run(python!, [
    join(repoRoot, "test/fixtures/interop_client.py"),
    address,
    generated,
    ...(gzip ? ["--gzip"] : []),
    ...cases,
  ]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Record<string, string>;
}

describe.skipIf(skip)("interop: a Python grpcio client against a TestService written with tsmicro", () => {
  for (const [transport, gzip] of [
    ["grpc", false],
    ["grpc", true],
    ["h2", false],
    ["h2", true],
  ] as const) {
    const flags = [
      ...(gzip ? ["--server_compression=gzip"] : []),
      ...(transport === "h2" ? ["--server_transport=h2"] : []),
    ];
    // One retry, for a race seen once under the full suite's load (2026-12-04, h2 server with gzip):
    // cancel_after_first_response got INTERNAL "cannot decode the request: cant skip wire type 7" for its
    // first (27 KB) request. Wire type 7 is the low bits of 0x1f, gzip's first byte: the body read as a
    // message was still gzip, so either it was sent compressed twice (grpc-core's retried attempts are,
    // grpc/grpc#37742; python3-grpcio here is 1.51) or flagged uncompressed. Not reproduced in 130 runs of
    // the 14 cases (fresh and reused servers, with and without CPU load) with every chunk checked for
    // change after arrival, nor by a refused first stream (grpcio 1.51 did not retry it).
    it(`passes all 14 cases${flags.length > 0 ? ` (${flags.join(" ")})` : ""}`, { retry: 1 }, async () => {
      // grpc-js's own reason in a status it sends (such as a request it could
      // not decode), so a failure here says what went wrong on the wire.
      const node = await startNode("test/fixtures/interop-server.ts", ["--registry=memory", ...flags], {
        GRPC_NODE_DEBUG_SEND_ERROR_DETAILS: "true",
      });
      const results = await pythonClient(node.address, gzip);
      expect(results).toEqual(Object.fromEntries(cases.map((name) => [name, "ok"])));
      node.kill("SIGTERM");
      expect(await node.exited).toBe(0);
      // No handler failed: the only error lines are the service's own lines for the UNKNOWN statuses
      // the status_code_and_message and special_status_message cases ask for (docs/logs.md, Failed calls).
      const errors = node
        .output()
        .split("\n")
        .filter((line) => line.includes('"level":50'))
        .map((line) => JSON.parse(line) as { code?: string; msg: string });
      expect(errors.filter((line) => line.code !== "UNKNOWN")).toEqual([]);
    });
  }
});

/** A TestService client and an UnimplementedService client, both through a service's registry client. */
type InteropClients = ReturnType<typeof clientsOf>;

function clientsOf(service: MicroService, name: string) {
  return {
    test: service.client(TestServiceDefinition, name),
    unimplemented: service.client(UnimplementedServiceDefinition, name),
  };
}

const zeros = (size: number) => ({ body: new Uint8Array(size) });
const echoInitial = "test_initial_metadata_value";
const echoTrailing = Buffer.from([0xab, 0xab, 0xab]);

/**
 * Requests handed out when the test says, as a queue-backed stream (a chat
 * client's outbox) is: an async iterator whose `return()` ends a pending wait.
 */
class RequestPipe<T> implements AsyncIterableIterator<T> {
  readonly #queue: T[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  /** Set once the consumer closed the iterator. */
  finished = false;

  add(request: T): void {
    this.#queue.push(request);
    this.#wake?.();
  }

  close(): void {
    this.#closed = true;
    this.#wake?.();
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      const next = this.#queue.shift();
      if (next !== undefined) return { done: false, value: next };
      if (this.#closed) return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  async return(): Promise<IteratorResult<T>> {
    this.finished = true;
    this.close();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

async function failureOf(run: () => Promise<unknown>): Promise<TsmicroError> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(TsmicroError);
    return error as TsmicroError;
  }
  throw new Error("the call succeeded; expected a failure");
}

/** The 14 cases, written against tsmicro's typed clients, each as the spec describes it. */
const tsmicroCases: Record<CaseName, (clients: InteropClients) => Promise<void>> = {
  async empty_unary({ test }) {
    expect(await test.emptyCall({})).toEqual({});
  },

  async large_unary({ test }) {
    const response = await test.unaryCall({ responseSize: 314159, payload: zeros(271828) });
    const body = response.payload?.body ?? new Uint8Array();
    expect(body.length).toBe(314159);
    expect(body.every((byte) => byte === 0)).toBe(true);
  },

  async client_streaming({ test }) {
    const requests = [27182, 8, 1828, 45904].map((size) => ({ payload: zeros(size) }));
    expect(await test.streamingInputCall(requests)).toEqual({ aggregatedPayloadSize: 74922 });
  },

  async server_streaming({ test }) {
    const sizes = [31415, 9, 2653, 58979];
    const got: number[] = [];
    for await (const response of test.streamingOutputCall({ responseParameters: sizes.map((size) => ({ size })) })) {
      got.push(response.payload?.body.length ?? -1);
    }
    expect(got).toEqual(sizes);
  },

  async ping_pong({ test }) {
    const pipe = new RequestPipe<DeepPartial<StreamingOutputCallRequest>>();
    const exchanges = [
      [31415, 27182],
      [9, 8],
      [2653, 1828],
      [58979, 45904],
    ] as const;
    const got: number[] = [];
    let turn = 0;
    const send = () => {
      const [size, payload] = exchanges[turn]!;
      pipe.add({ responseParameters: [{ size }], payload: zeros(payload) });
    };
    send();
    for await (const response of test.fullDuplexCall(pipe)) {
      got.push(response.payload?.body.length ?? -1);
      // Each request goes only after the previous reply, then the client half-closes.
      if (++turn < exchanges.length) send();
      else pipe.close();
    }
    expect(got).toEqual(exchanges.map(([size]) => size));
  },

  async empty_stream({ test }) {
    const got: unknown[] = [];
    for await (const response of test.fullDuplexCall([])) got.push(response);
    expect(got).toEqual([]);
  },

  async custom_metadata({ test }) {
    const metadata = { "x-grpc-test-echo-initial": echoInitial, "x-grpc-test-echo-trailing-bin": echoTrailing };
    const check = async (
      call: (hooks: { onHeader: (m: Metadata) => void; onTrailer: (m: Metadata) => void }) => Promise<void>,
    ) => {
      let header: Metadata = {};
      let trailer: Metadata = {};
      await call({ onHeader: (m) => (header = m), onTrailer: (m) => (trailer = m) });
      expect(header["x-grpc-test-echo-initial"]).toBe(echoInitial);
      expect(Buffer.from(trailer["x-grpc-test-echo-trailing-bin"] as Uint8Array)).toEqual(echoTrailing);
    };
    await check(async (hooks) => {
      const response = await test.unaryCall({ responseSize: 314159, payload: zeros(271828) }, { metadata, ...hooks });
      expect(response.payload?.body.length).toBe(314159);
    });
    await check(async (hooks) => {
      const sizes: number[] = [];
      const requests = [{ responseParameters: [{ size: 314159 }], payload: zeros(271828) }];
      for await (const response of test.fullDuplexCall(requests, { metadata, ...hooks })) {
        sizes.push(response.payload?.body.length ?? -1);
      }
      expect(sizes).toEqual([314159]);
    });
  },

  async status_code_and_message({ test }) {
    const responseStatus = { code: 2, message: "test status message" };
    const unary = await failureOf(() => test.unaryCall({ responseStatus }));
    expect(unary).toMatchObject({ code: Code.UNKNOWN, message: "test status message" });
    const duplex = await failureOf(async () => {
      for await (const _ of test.fullDuplexCall([{ responseStatus }]));
    });
    expect(duplex).toMatchObject({ code: Code.UNKNOWN, message: "test status message" });
  },

  async special_status_message({ test }) {
    const message = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \u{1f608}\t\n";
    const error = await failureOf(() => test.unaryCall({ responseStatus: { code: 2, message } }));
    expect(error.code).toBe(Code.UNKNOWN);
    expect(error.message).toBe(message);
  },

  async unimplemented_method({ test }) {
    expect(await failureOf(() => test.unimplementedCall({}))).toMatchObject({ code: Code.UNIMPLEMENTED });
  },

  async unimplemented_service({ unimplemented }) {
    expect(await failureOf(() => unimplemented.unimplementedCall({}))).toMatchObject({ code: Code.UNIMPLEMENTED });
  },

  async timeout_on_sleeping_server({ test }) {
    const pipe = new RequestPipe<DeepPartial<StreamingOutputCallRequest>>();
    pipe.add({ payload: zeros(27182) });
    const error = await failureOf(async () => {
      for await (const _ of test.fullDuplexCall(pipe, { timeoutMs: 1 }));
    });
    expect(error.code).toBe(Code.DEADLINE_EXCEEDED);
    // The call ended: the request stream was closed, not left waiting for a request.
    await sleep(10);
    expect(pipe.finished).toBe(true);
  },

  async cancel_after_begin({ test }) {
    const pipe = new RequestPipe<{ payload: { body: Uint8Array } }>();
    const controller = new AbortController();
    const pending = test.streamingInputCall(pipe, { signal: controller.signal });
    controller.abort();
    expect(await failureOf(() => pending)).toMatchObject({ code: Code.CANCELLED });
  },

  async cancel_after_first_response({ test }) {
    const pipe = new RequestPipe<DeepPartial<StreamingOutputCallRequest>>();
    const controller = new AbortController();
    pipe.add({ responseParameters: [{ size: 31415 }], payload: zeros(27182) });
    const error = await failureOf(async () => {
      for await (const response of test.fullDuplexCall(pipe, { signal: controller.signal })) {
        expect(response.payload?.body.length).toBe(31415);
        controller.abort();
      }
    });
    expect(error.code).toBe(Code.CANCELLED);
  },
};

describe.skipIf(skip)("interop: tsmicro's client against a Python grpcio TestService", () => {
  for (const [transport, gzip] of [
    ["grpc", false],
    ["grpc", true],
    ["h2", false],
    ["h2", true],
  ] as const) {
    const flags = [
      ...(gzip ? ["--client_compression=gzip"] : []),
      ...(transport === "h2" ? ["--client_transport=h2"] : []),
    ];
    const title = gzip ? "gzip both ways (a gzip Python server)" : "plain";
    describe(`${title}, ${transport === "h2" ? "the h2 client transport" : "grpc-js"} (${flags.join(" ") || "defaults"})`, () => {
      let server: ChildProcess | undefined;
      let registry: Registry;
      let caller: MicroService;
      let clients: InteropClients;

      beforeAll(async () => {
        const started = await startPythonServer(gzip);
        server = started.child;
        // The Python server is not a tsmicro service: register it by hand, as any node.
        registry = await registryWith("interop-python", { id: "python-1", address: `127.0.0.1:${started.port}` });
        caller = createService({
          name: "interop-driver",
          registry,
          args: flags,
          env: suiteEnv(),
          logger: silentLogger(),
        });
        clients = clientsOf(caller, "interop-python");
      });

      afterAll(async () => {
        await caller?.stop();
        await registry?.stop();
        if (server?.pid !== undefined && server.exitCode === null) process.kill(server.pid, "SIGKILL");
      });

      for (const name of cases) it(name, () => tsmicroCases[name](clients));
    });
  }
});

describe.skipIf(skip).each(["grpc", "h2"])(
  "interop: tsmicro's client against the tsmicro TestService, --transport=%s",
  (transport) => {
    let caller: MicroService;
    let clients: InteropClients;
    let registry: Registry;

    beforeAll(async () => {
      const node = await startNode("test/fixtures/interop-server.ts", [
        "--registry=memory",
        `--transport=${transport}`,
      ]);
      registry = await registryWith("interop", node);
      caller = createService({
        name: "interop-driver",
        registry,
        args: [`--transport=${transport}`],
        env: suiteEnv(),
        logger: silentLogger(),
      });
      clients = clientsOf(caller, "interop");
    });

    afterAll(async () => {
      await caller?.stop();
      await registry?.stop();
    });

    for (const name of cases) it(name, () => tsmicroCases[name](clients));
  },
);

/** A started memory registry holding one node of `name`, registered by hand as any node (its process registers only in its own memory). */
async function registryWith(name: string, node: { id: string; address: string }): Promise<Registry> {
  const registry = createMemoryRegistry();
  await registry.start();
  await registry.register(
    { name, version: "1", metadata: {}, endpoints: [], nodes: [{ id: node.id, address: node.address, metadata: {} }] },
    { ttlMs: 600_000 },
  );
  return registry;
}

/** The part of test.proto the Python server's reflection describes, on the files generated at the root. */
const testServiceProto = `syntax = "proto3";
package grpc.testing;
import "empty.proto";
import "messages.proto";
service TestService {
  rpc EmptyCall(grpc.testing.Empty) returns (grpc.testing.Empty);
  rpc UnaryCall(SimpleRequest) returns (SimpleResponse);
}
`;

describe.skipIf(skip)("a Python grpcio server's reflection, which leaves json_name unset", () => {
  let server: ChildProcess | undefined;
  let dir = "";

  afterAll(async () => {
    server?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("still gives tsmicro call proto3 JSON names both ways (lowerCamelCase, as protoc makes them)", async () => {
    const started = await startPythonServer(false, ["--reflection"]);
    server = started.child;
    dir = await mkdtemp(join(tmpdir(), "tsmicro-pyreflect-"));
    const registry = createLocalRegistry({ dir });
    await registry.start();
    const node = { id: "py-1", address: `127.0.0.1:${started.port}`, metadata: {} };
    await registry.register(
      { name: "pyinterop", version: "1", metadata: {}, endpoints: [], nodes: [node] },
      {
        ttlMs: 600_000,
      },
    );
    try {
      const result = await run("node", [
        bins.tsmicro,
        "call",
        "pyinterop",
        "TestService.UnaryCall",
        '{"responseSize": 3}',
        "--registry=local",
        `--registry_address=${dir}`,
      ]);
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({ payload: { body: "AAAA" } });
    } finally {
      await registry.stop();
    }
  });
});

/** Starts the Python TestService and waits for the port it prints. */
async function startPythonServer(
  gzip: boolean,
  extra: readonly string[] = [],
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    python!,
    [join(repoRoot, "test/fixtures/interop_server.py"), generated, ...(gzip ? ["--gzip"] : []), ...extra],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`interop_server.py exited with ${code}:\n${output}`)));
    setTimeout(() => reject(new Error(`interop_server.py did not start within 20 s:\n${output}`)), 20_000).unref();
  });
  return { child, port };
}

describe("call semantics across processes (needs no Python)", () => {
  let registry: Registry;
  const drivers: MicroService[] = [];

  beforeAll(async () => {
    const node = await startNode("test/fixtures/interop-server.ts", ["--registry=memory"]);
    registry = await registryWith("interop", node);
  });

  afterAll(async () => {
    for (const driver of drivers) await driver.stop();
    await registry?.stop();
  });

  function driver(args: string[]) {
    const service = createService({ name: "driver", registry, args, env: suiteEnv(), logger: silentLogger() });
    drivers.push(service);
    return service.client(TestServiceDefinition, "interop");
  }

  /** Three messages 400 ms apart: 1.2 s, four times the unary timeout below. */
  const slowStream = { responseParameters: [400_000, 400_000, 400_000].map((intervalUs) => ({ size: 1, intervalUs })) };

  it("a server stream is read for longer than the unary timeout: streams get no default deadline", async () => {
    const test = driver(["--client_request_timeout=300ms"]);
    let count = 0;
    for await (const _ of test.streamingOutputCall(slowStream)) count++;
    expect(count).toBe(3);
    // A unary call with timeoutMs: Infinity has no deadline either.
    const response = await test.unaryCall({ responseSize: 1 }, { timeoutMs: Infinity });
    expect(response.payload?.body.length).toBe(1);
  });

  it("--client_stream_timeout gives streams a deadline when one is wanted", async () => {
    const test = driver(["--client_request_timeout=300ms", "--client_stream_timeout=600ms"]);
    const error = await failureOf(async () => {
      for await (const _ of test.streamingOutputCall(slowStream));
    });
    expect(error.code).toBe(Code.DEADLINE_EXCEEDED);
  });
});
