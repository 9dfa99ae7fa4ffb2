import {
  createMemoryRegistry,
  createService,
  silentLogger,
  type ClientMiddleware,
  type MicroService,
  type ServerMiddleware,
} from "@tsmicro/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { AlphaDefinition, type AlphaHandler } from "./golden/10-services/services.micro.js";
import { suiteEnv } from "./support/suite-env.js";

describe("middleware, in one process on the memory registry", () => {
  const services: MicroService[] = [];
  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
  });

  it("runs server and client middleware in order, [a, b] meaning a wraps b", async () => {
    const registry = createMemoryRegistry();
    const trace: string[] = [];
    const server =
      (name: string): ServerMiddleware =>
      (next) =>
      async (call) => {
        trace.push(`server ${name} in ${call.method.name}`);
        const result = await (next(call) as Promise<unknown>);
        trace.push(`server ${name} out`);
        return result;
      };
    const client =
      (name: string): ClientMiddleware =>
      (next) =>
      async (call) => {
        trace.push(`client ${name} in ${call.service}`);
        const result = await (next({
          ...call,
          metadata: { ...call.metadata, [`x-${name}`]: "1" },
        }) as Promise<unknown>);
        trace.push(`client ${name} out`);
        return result;
      };
    const unsupported = () => {
      throw new Error("not used");
    };
    const handler: AlphaHandler = {
      unary: async (request, context) => {
        trace.push(
          `handler sees ${Object.keys(context.metadata)
            .filter((k) => k.startsWith("x-"))
            .sort()
            .join(",")}`,
        );
        return { id: request.id, payload: request.payload, sequence: 0 };
      },
      serverStream: unsupported,
      clientStream: unsupported,
      bidiStream: unsupported,
    };
    const echo = createService({
      name: "echo",
      args: [],
      env: suiteEnv(),
      registry,
      logger: silentLogger(),
      serverMiddleware: [server("a"), server("b")],
    });
    echo.handle(AlphaDefinition, handler);
    services.push(echo);
    await echo.start();
    const caller = createService({
      name: "caller",
      args: [],
      env: suiteEnv(),
      registry,
      logger: silentLogger(),
      clientMiddleware: [client("a"), client("b")],
    });
    services.push(caller);
    expect(await caller.client(AlphaDefinition, "echo").unary({ id: "m" })).toMatchObject({ id: "m" });
    expect(trace).toEqual([
      "client a in echo",
      "client b in echo",
      "server a in Unary",
      "server b in Unary",
      "handler sees x-a,x-b",
      "server b out",
      "server a out",
      "client b out",
      "client a out",
    ]);
  });
});
