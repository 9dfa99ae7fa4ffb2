import type { CallContext, Metadata } from "../definition/call.js";
import type { MethodDefinition } from "../definition/definition.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { type Logger, silentLogger } from "../logging/logger.js";
import { ServerCallContext } from "../transport/server-context.js";
import { longestTimerMs, timerDelayMs } from "../platform/timer-delay.js";

/** What a test gives a handler's call; everything has a default. */
export interface TestCallContextOptions {
  /** The method served; a stand-in named `/test.Test/Call` by default. */
  readonly method?: MethodDefinition;
  /** The metadata the caller sent; none by default. */
  readonly metadata?: Metadata;
  /** The caller's deadline; none by default. */
  readonly deadline?: Date;
  /** The caller's address; `test` by default. */
  readonly peer?: string;
  /** The handler's logger; a silent one by default. */
  readonly logger?: Logger;
}

/**
 * A CallContext for calling a handler directly in a unit test, as a server gives it: the
 * caller's metadata, deadline and peer, a signal that aborts when the deadline passes, and
 * `setHeader`, `setTrailer`, `sendHeader` and `setCompression` working as in a served call, so
 * the test can read what the handler set in `responseHeader` and `responseTrailer`.
 */
export function testCallContext(options: TestCallContextOptions = {}): CallContext {
  const context = new ServerCallContext({
    method: options.method ?? standInMethod,
    metadata: options.metadata ?? {},
    deadline: options.deadline,
    peer: options.peer ?? "test",
    logger: options.logger ?? silentLogger(),
    gzip: false,
    // No wire: the header stays on the context for the test to read.
    sendHeader: () => {},
  });
  const { deadline } = options;
  // A deadline further away than a timer can wait never comes in a test.
  if (deadline !== undefined && deadline.getTime() - Date.now() <= longestTimerMs)
    setTimeout(() => context.cancel(), timerDelayMs(deadline)).unref();
  return context;
}

/** A method for a test that names none: its codecs are never used by a handler called directly. */
const standInMethod: MethodDefinition = Object.freeze({
  name: "Call",
  path: "/test.Test/Call",
  kind: "unary",
  input: noCodec(),
  output: noCodec(),
  inputType: "test.Request",
  outputType: "test.Response",
  idempotency: "unknown",
  deprecated: false,
  http: [],
});

function noCodec(): MethodDefinition["input"] {
  const fail = (): never => {
    throw new TsmicroError(Code.INTERNAL, "testCallContext(): pass the method whose messages the test encodes");
  };
  return { encode: fail, decode: fail } as unknown as MethodDefinition["input"];
}
