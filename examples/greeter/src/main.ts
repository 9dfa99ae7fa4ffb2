/**
 * The greeter service. Run it (after `tsmicro generate`) with
 * `node --import tsx src/main.ts`; flags and TSMICRO_* variables choose the
 * registry (`--registry local` by default, no server needed).
 */
import { createService, type CallContext } from "@tsmicro/runtime";
import type { HelloReply, HelloRequest, StreamRequest } from "./gen/greeter/v1/greeter.js";
import { GreeterDefinition, type GreeterHandler } from "./gen/greeter/v1/greeter.micro.js";

class Greeter implements GreeterHandler {
  async sayHello(request: HelloRequest, context: CallContext): Promise<HelloReply> {
    void context;
    return { message: `Hello ${request.name}` };
  }

  async *stream(request: StreamRequest): AsyncIterable<HelloReply> {
    for (let i = 1; i <= request.count; i++) yield { message: `Hello ${request.name} (${i})` };
  }
}

const service = createService({ name: "greeter", version: "1.0.0" });
service.handle(GreeterDefinition, new Greeter());
await service.run();
