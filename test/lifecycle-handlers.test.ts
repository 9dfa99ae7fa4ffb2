/**
 * handle(def, handler, { partial: true }) serves a handler with only some
 * methods, the others answering UNIMPLEMENTED over the wire; without it, a
 * missing method is a catalogued SetupError at handle().
 */
import {
  Code,
  createMemoryRegistry,
  createService,
  isSetupError,
  silentLogger,
  type MicroService,
} from "@tsmicro/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { AlphaDefinition, type AlphaHandler } from "./golden/10-services/services.micro.js";
import { suiteEnv } from "./support/suite-env.js";

const quiet = { args: [] as string[], env: suiteEnv(), logger: silentLogger() };

describe("handlers that implement only some methods", () => {
  const registry = createMemoryRegistry();
  const services: MicroService[] = [];
  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
  });

  it("partial: the missing methods of every kind answer UNIMPLEMENTED naming the method", async () => {
    const server = createService({ name: "half", registry, ...quiet });
    services.push(server);
    const unaryOnly: Partial<AlphaHandler> = {
      unary: async (request) => ({ id: "served", payload: request.payload, sequence: 0 }),
    };
    server.handle(AlphaDefinition, unaryOnly, { partial: true });
    await server.start();
    const caller = createService({ name: "caller", registry, ...quiet, args: ["--client_retries=0"] });
    services.push(caller);
    const client = caller.client(AlphaDefinition, "half");

    expect((await client.unary({ id: "x" })).id).toBe("served");
    const unimplemented = (method: string) => ({
      code: Code.UNIMPLEMENTED,
      message: `fixtures.services.v1.Alpha/${method} is not implemented by this service`,
    });
    await expect(client.clientStream([{ data: new Uint8Array(1) }])).rejects.toMatchObject(
      unimplemented("ClientStream"),
    );
    const drain = async (stream: AsyncIterable<unknown>) => {
      for await (const _ of stream);
    };
    await expect(drain(client.serverStream({ id: "s" }))).rejects.toMatchObject(unimplemented("ServerStream"));
    await expect(drain(client.bidiStream([{ id: "b" }]))).rejects.toMatchObject(unimplemented("BidiStream"));
    // The service stays healthy: the next call is served.
    expect((await client.unary({ id: "y" })).id).toBe("served");
  });

  it("strict by default: a missing method is TSM_ERR_HANDLER_METHOD, reported by start()", async () => {
    const server = createService({ name: "strict", registry, ...quiet });
    const unaryOnly = { unary: async () => ({ id: "", payload: new Uint8Array(), sequence: 0 }) };
    // @ts-expect-error -- without { partial: true } the type checker wants every method, too
    server.handle(AlphaDefinition, unaryOnly);
    const thrown = await server.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isSetupError(thrown) && thrown.code).toBe("TSM_ERR_HANDLER_METHOD");
    expect((thrown as Error).message).toContain("fixtures.services.v1.Alpha has no method serverStream");
    expect((thrown as Error).message).toContain("{ partial: true }");
    // Nothing was registered.
    expect(await registry.getService("strict")).toEqual([]);
  });
});
