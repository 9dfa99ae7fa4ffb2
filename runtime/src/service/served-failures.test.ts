import { describe, expect, it } from "vitest";
import type { CallContext } from "../definition/call.js";
import { errorReasonDetail } from "../errors/error-details.js";
import { nameFailedService } from "../errors/failed-service.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Logger } from "../logging/logger.js";
import { breakerOpenReason } from "../middleware/breaker.js";
import { logServedFailure } from "./served-failures.js";

type Line = [string, object, string | undefined];

/** A served call's context on `Get` whose logger keeps each line's level, fields and message. */
function servedCall(signal: AbortSignal = new AbortController().signal): { context: CallContext; lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (fields: object | string, message?: string): void =>
      void lines.push(typeof fields === "string" ? [level, {}, fields] : [level, fields, message]);
  const logger: Logger = {
    trace: at("trace"),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: () => logger,
  };
  const context = { method: { path: "/shop.v1.Orders/Place" }, signal, peer: "127.0.0.1:5000", logger };
  return { context: context as unknown as CallContext, lines };
}

function aborted(reason: TsmicroError): AbortSignal {
  const controller = new AbortController();
  controller.abort(reason);
  return controller.signal;
}

describe("logServedFailure", () => {
  it("logs a failure passed on from a downstream call at warn, naming the method, code, message and service", () => {
    const { context, lines } = servedCall();
    const down = nameFailedService(new TsmicroError(Code.UNAVAILABLE, "cannot reach 127.0.0.1:1"), "inventory");
    logServedFailure(context, down);
    expect(lines).toEqual([
      [
        "warn",
        { code: "UNAVAILABLE", failedService: "inventory", peer: "127.0.0.1:5000" },
        "shop.v1.Orders/Place answered UNAVAILABLE, passing on the failure of its call of inventory: cannot reach 127.0.0.1:1",
      ],
    ]);
  });

  it("logs the service's own INTERNAL, UNKNOWN and DATA_LOSS at error, a downstream's at warn, without a stack", () => {
    for (const code of [Code.INTERNAL, Code.UNKNOWN, Code.DATA_LOSS]) {
      const { context, lines } = servedCall();
      logServedFailure(context, new TsmicroError(code, "the ledger is inconsistent"));
      logServedFailure(context, nameFailedService(new TsmicroError(code, "broke"), "ledger"));
      expect(lines.map(([level]) => level)).toEqual(["error", "warn"]);
      expect(lines[0]?.[1]).toEqual({ code: expect.any(String), peer: "127.0.0.1:5000" });
    }
  });

  it("logs the other failures of the service's at warn: UNAVAILABLE, DEADLINE_EXCEEDED, UNIMPLEMENTED", () => {
    for (const code of [Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED, Code.UNIMPLEMENTED]) {
      const { context, lines } = servedCall();
      logServedFailure(context, new TsmicroError(code, "no"));
      expect(lines.map(([level]) => level)).toEqual(["warn"]);
    }
  });

  it("logs nothing for a caller's mistake, its cancel, or what it asked too much of", () => {
    const callers = [
      Code.INVALID_ARGUMENT,
      Code.NOT_FOUND,
      Code.ALREADY_EXISTS,
      Code.PERMISSION_DENIED,
      Code.UNAUTHENTICATED,
      Code.FAILED_PRECONDITION,
      Code.OUT_OF_RANGE,
      Code.ABORTED,
      Code.CANCELLED,
      Code.RESOURCE_EXHAUSTED,
    ];
    const { context, lines } = servedCall();
    for (const code of callers) logServedFailure(context, nameFailedService(new TsmicroError(code, "no"), "inventory"));
    expect(lines).toEqual([]);
  });

  it("logs an open breaker's refusal at debug: the breaker said it opened", () => {
    const { context, lines } = servedCall();
    const open = new TsmicroError(Code.UNAVAILABLE, "circuit breaker open", {
      details: [errorReasonDetail(breakerOpenReason.reason, breakerOpenReason.domain)],
    });
    logServedFailure(context, nameFailedService(open, "inventory"));
    expect(lines.map(([level]) => level)).toEqual(["debug"]);
  });

  it("leaves what is not a TsmicroError to the transport, which logs it with its stack", () => {
    const { context, lines } = servedCall();
    logServedFailure(context, new Error("bug"));
    expect(lines).toEqual([]);
  });

  it("logs nothing after the caller cancelled or the server's stop cut the call", () => {
    for (const reason of [
      new TsmicroError(Code.CANCELLED, "the caller cancelled /shop.v1.Orders/Place"),
      new TsmicroError(Code.UNAVAILABLE, "the server is shutting down"),
    ]) {
      const { context, lines } = servedCall(aborted(reason));
      logServedFailure(context, new TsmicroError(Code.UNAVAILABLE, "cannot reach 127.0.0.1:1"));
      logServedFailure(context, undefined);
      expect(lines).toEqual([]);
    }
  });

  it("logs a call its deadline cut as DEADLINE_EXCEEDED, whatever its handler did after", () => {
    const deadline = new TsmicroError(Code.DEADLINE_EXCEEDED, "deadline exceeded serving /shop.v1.Orders/Place");
    const { context, lines } = servedCall(aborted(deadline));
    logServedFailure(context, undefined);
    logServedFailure(context, new Error("aborted"));
    logServedFailure(context, new TsmicroError(Code.CANCELLED, "the call was cancelled"));
    logServedFailure(context, nameFailedService(new TsmicroError(Code.DEADLINE_EXCEEDED, "late"), "inventory"));
    expect(lines.map(([level, fields]) => [level, fields])).toEqual([
      ["warn", { code: "DEADLINE_EXCEEDED", peer: "127.0.0.1:5000" }],
      ["warn", { code: "DEADLINE_EXCEEDED", peer: "127.0.0.1:5000" }],
      ["warn", { code: "DEADLINE_EXCEEDED", peer: "127.0.0.1:5000" }],
      ["warn", { code: "DEADLINE_EXCEEDED", failedService: "inventory", peer: "127.0.0.1:5000" }],
    ]);
  });
});
