/**
 * proto2 required fields wherever a message crosses the wire, on every client transport against
 * every server transport (fixture 07's LegacyService, test/protos/07-proto2):
 * - servers check each message of client and bidi request streams, as they already checked unary
 *   and server-streaming requests: INVALID_ARGUMENT naming the field, even when the handler
 *   catches its request stream's error and carries on;
 * - a typed client refuses to send a request that leaves a required field unset (as protobuf's
 *   build() refuses to build it) and fails INTERNAL on a response that lacks one.
 * Raw bytes (a codec that passes them through) stand in for another language's client or server.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Account, GetAccountRequest, ImportSummary } from "../../../test/golden/07-proto2/legacy.js";
import { Account as AccountCodec, GetAccountRequest as RequestCodec } from "../../../test/golden/07-proto2/legacy.js";
import { LegacyServiceDefinition } from "../../../test/golden/07-proto2/legacy.micro.js";
import { createDirectCaller } from "../client/direct-caller.js";
import type { Caller } from "../definition/call.js";
import { createClient } from "../definition/client.js";
import type { MethodDefinition, ServiceDefinition } from "../definition/definition.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { silentLogger } from "../logging/logger.js";
import { pairs, transports, use } from "./testdata/transport-pairs.js";
import type { ServerCall } from "./transport.js";
import { rawCodec as raw } from "../../../test/support/raw-codec.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A method whose requests (or responses) are raw bytes. */
function rawRequests<O>(method: {
  readonly output: { decode(bytes: Uint8Array): O };
}): MethodDefinition<Uint8Array, O> {
  return { ...method, input: raw } as unknown as MethodDefinition<Uint8Array, O>;
}

const methods = LegacyServiceDefinition.methods;
const account = (id: string): Uint8Array => AccountCodec.encode({ ...AccountCodec.fromPartial({ id }) }).finish();
/** An Account with id "b" and no created_at, a required field. */
const noCreatedAt = Uint8Array.of(0x0a, 0x01, 0x62);
const lacks = (path: string, field: string) =>
  `the request lacks ${path} (fixtures.legacy.${field}), a required field: send it, even at its zero value`;

/** What the handlers saw. */
let seen: string[] = [];

/**
 * ImportAccounts counts the accounts it reads (an id "swallow" makes it catch its request stream's
 * error and answer anyway); SyncAccounts answers each request with its account; GetAccount and
 * WatchAccount answer the account with `id`.
 */
function handle(call: ServerCall): Promise<unknown> | AsyncIterable<unknown> {
  switch (call.method.name) {
    case "ImportAccounts":
      return (async (): Promise<ImportSummary> => {
        let count = 0;
        let swallow = false;
        try {
          for await (const request of call.request as AsyncIterable<Account>) {
            seen.push(request.id);
            swallow ||= request.id === "swallow";
            count++;
          }
        } catch (error) {
          if (!swallow) throw error;
        }
        return { count };
      })();
    case "SyncAccounts":
      return (async function* (): AsyncIterable<Account> {
        for await (const request of call.request as AsyncIterable<GetAccountRequest>) {
          seen.push(request.id);
          yield AccountCodec.fromPartial({ id: request.id });
        }
      })();
    case "WatchAccount":
      return (async function* (): AsyncIterable<Account> {
        seen.push((call.request as GetAccountRequest).id);
        yield AccountCodec.fromPartial({ id: (call.request as GetAccountRequest).id });
      })();
    default:
      seen.push((call.request as GetAccountRequest).id);
      return Promise.resolve(AccountCodec.fromPartial({ id: (call.request as GetAccountRequest).id }));
  }
}

async function serve(definition: ServiceDefinition, handler = handle): Promise<string> {
  const server = transports.server({ logger: silentLogger() });
  server.add(definition, handler);
  const address = await server.listen("127.0.0.1:0");
  cleanups.push(() => server.stop(0));
  return address;
}

function caller(address: string): Caller {
  const transport = transports.client();
  cleanups.push(() => transport.close());
  return createDirectCaller({ transport, address });
}

async function collect<T>(stream: AsyncIterable<T>): Promise<{ messages: T[]; error?: unknown }> {
  const messages: T[] = [];
  try {
    for await (const message of stream) messages.push(message);
  } catch (error) {
    return { messages, error };
  }
  return { messages };
}

describe.each(pairs)("proto2 required fields, %s client, %s server", (client, server) => {
  beforeAll(() => {
    use(client, server);
  });

  it("a client stream with a message lacking a required field fails INVALID_ARGUMENT naming it", async () => {
    const direct = caller(await serve(LegacyServiceDefinition));
    seen = [];
    const method = rawRequests(methods.importAccounts);
    await expect(direct.clientStreaming(method, toAsync([account("a"), noCreatedAt, account("c")]))).rejects.toEqual(
      expect.objectContaining({ code: Code.INVALID_ARGUMENT, message: lacks("created_at", "Account.created_at") }),
    );
    // The handler read the message before it, and none after.
    expect(seen).toEqual(["a"]);
    // Zero values are values: an account with id "" and created_at 0 passes.
    await expect(direct.clientStreaming(method, toAsync([account(""), account("z")]))).resolves.toEqual({ count: 2 });
  });

  it("fails the call even when the handler catches its request stream's error and answers", async () => {
    const direct = caller(await serve(LegacyServiceDefinition));
    const method = rawRequests(methods.importAccounts);
    await expect(direct.clientStreaming(method, toAsync([account("swallow"), noCreatedAt]))).rejects.toMatchObject({
      code: Code.INVALID_ARGUMENT,
      message: lacks("created_at", "Account.created_at"),
    });
  });

  it("a bidi stream answers the messages before the one lacking a required field, then fails naming it", async () => {
    const direct = caller(await serve(LegacyServiceDefinition));
    seen = [];
    const method = rawRequests(methods.syncAccounts);
    const request = (id: string) => RequestCodec.encode({ id }).finish();
    // Field 2 (status_filter) alone: no id.
    const { messages, error } = await collect(
      direct.bidiStreaming(method, toAsync([request("a"), request("b"), Uint8Array.of(0x10, 0x01)])),
    );
    expect(messages.map((m) => m.id)).toEqual(["a", "b"]);
    expect(error).toMatchObject({ code: Code.INVALID_ARGUMENT, message: lacks("id", "GetAccountRequest.id") });
    expect(seen).toEqual(["a", "b"]);
  });

  it("a typed client refuses to send a request that leaves a required field unset, naming it", async () => {
    const typed = createClient(LegacyServiceDefinition, caller(await serve(LegacyServiceDefinition)));
    seen = [];
    await expect(typed.getAccount({})).rejects.toMatchObject({
      code: Code.INVALID_ARGUMENT,
      message: lacks("id", "GetAccountRequest.id"),
    });
    await expect(typed.getAccount({ id: "a", scope: { level: 1, token: new Uint8Array() } })).rejects.toMatchObject({
      code: Code.INVALID_ARGUMENT,
      message: lacks("scope.status", "Scope.status"),
    });
    const watched = await collect(typed.watchAccount({ scope: {} }));
    expect(watched.error).toMatchObject({ code: Code.INVALID_ARGUMENT, message: lacks("id", "GetAccountRequest.id") });
    const imported = typed.importAccounts([{ id: "a", createdAt: 1n }, { id: "b" }]);
    await expect(imported).rejects.toMatchObject({
      code: Code.INVALID_ARGUMENT,
      message:
        "request 1 of the stream lacks created_at (fixtures.legacy.Account.created_at), a required field: send it, even at its zero value",
    });
    const synced = await collect(typed.syncAccounts([{ id: "a" }, { statusFilter: 1 }]));
    expect(synced.error).toMatchObject({ code: Code.INVALID_ARGUMENT, message: expect.stringMatching(/^request 1 /) });
    // None of the refused requests reached the server; zero values are sent as set.
    expect(seen.filter((id) => id !== "a")).toEqual([]);
    await expect(
      typed.getAccount({ id: "", scope: { level: 0, status: 0, token: new Uint8Array() } }),
    ).resolves.toEqual(expect.objectContaining({ id: "" }));
    await expect(typed.importAccounts([{ id: "", createdAt: 0n }])).resolves.toEqual({ count: 1 });
  });

  it("a typed client fails INTERNAL on a response that lacks a required field, naming it", async () => {
    // A server whose answers are raw bytes, as another language's server may send them.
    const rawOut = (method: object) => ({ ...method, output: raw }) as unknown as MethodDefinition;
    const incomplete: ServiceDefinition = {
      ...LegacyServiceDefinition,
      methods: {
        getAccount: rawOut(methods.getAccount),
        watchAccount: rawOut(methods.watchAccount),
        importAccounts: rawOut(methods.importAccounts),
        syncAccounts: rawOut(methods.syncAccounts),
      },
    };
    const address = await serve(incomplete, (call) => {
      if (call.method.name === "ImportAccounts") return Promise.resolve(new Uint8Array());
      if (call.method.name === "GetAccount") return Promise.resolve(noCreatedAt);
      return (async function* () {
        yield account("ok");
        yield noCreatedAt;
      })();
    });
    const typed = createClient(LegacyServiceDefinition, caller(address));
    const responseLacks = (path: string) =>
      expect.stringContaining(
        `the response lacks ${path}, a required field: the server sent an incomplete message`,
      ) as unknown as string;
    await expect(typed.getAccount({ id: "a" })).rejects.toMatchObject({
      code: Code.INTERNAL,
      message: responseLacks("created_at (fixtures.legacy.Account.created_at)"),
    });
    await expect(typed.importAccounts([{ id: "a", createdAt: 1n }])).rejects.toMatchObject({
      code: Code.INTERNAL,
      message: responseLacks("count (fixtures.legacy.ImportSummary.count)"),
    });
    const watched = await collect(typed.watchAccount({ id: "a" }));
    expect(watched.messages.map((m) => m.id)).toEqual(["ok"]);
    expect(watched.error).toMatchObject({
      code: Code.INTERNAL,
      message: responseLacks("created_at (fixtures.legacy.Account.created_at)"),
    });
    const synced = await collect(typed.syncAccounts([{ id: "a" }]));
    expect(synced.error).toBeInstanceOf(TsmicroError);
    expect(synced.error).toMatchObject({
      code: Code.INTERNAL,
      message: responseLacks("created_at (fixtures.legacy.Account.created_at)"),
    });
  });
});

async function* toAsync<T>(items: readonly T[]): AsyncIterable<T> {
  for (const item of items) yield item;
}
