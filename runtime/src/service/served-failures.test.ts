import { AsyncLocalStorage } from "node:async_hooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { CallContext } from "../definition/call.js";
import { errorReasonDetail } from "../errors/error-details.js";
import { nameFailedService } from "../errors/failed-service.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { type LoggedLine, lineLogger } from "../../../test/support/line-logger.js";
import { breakerOpenReason } from "../middleware/breaker.js";
import { sayAnswersAgain } from "./answers-again.js";
import { ServedFailureLog } from "./served-failures.js";

// How many listen to services said to answer again: a channel's subscriber is kept by the process.
const listening = vi.hoisted(() => ({ now: 0 }));
vi.mock("./answers-again.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./answers-again.js")>();
  return {
    ...actual,
    onAnswersAgain: (listener: (service: string) => void) => {
      const stop = actual.onAnswersAgain(listener);
      listening.now++;
      return () => {
        listening.now--;
        stop();
      };
    },
  };
});

/** A served call's context on `Get` whose logger keeps each line's level, fields and message. */
function servedCall(signal: AbortSignal = new AbortController().signal): { context: CallContext; lines: LoggedLine[] } {
  const { logger, lines } = lineLogger();
  const context = { method: { path: "/shop.v1.Orders/Place" }, signal, peer: "127.0.0.1:5000", logger };
  return { context: context as unknown as CallContext, lines };
}

/** Logs one failed call on a log of its own: what a line says, apart from its repeats. */
function logServedFailure(context: CallContext, error: unknown): void {
  const log = new ServedFailureLog(context.logger);
  log.failed(context, error);
  log.stop();
}

/** A failure of `service`'s, passed on: what a handler throws when a call of its own failed. */
function passedOn(code: Code, service: string, message: string): TsmicroError {
  return nameFailedService(new TsmicroError(code, message), service) as TsmicroError;
}

function aborted(reason: TsmicroError): AbortSignal {
  const controller = new AbortController();
  controller.abort(reason);
  return controller.signal;
}

describe("ServedFailureLog", () => {
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

describe("ServedFailureLog in an outage", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("logs the first failure in full, then one line per 10 s for the calls that failed alike, until a quiet window", () => {
    vi.useFakeTimers();
    const { context, lines } = servedCall();
    const log = new ServedFailureLog(context.logger);
    for (let call = 1; call <= 50; call++)
      log.failed(context, passedOn(Code.UNAVAILABLE, "postgres", `refused ${call}`));
    // The first still says what failed, with its call's fields.
    expect(lines).toEqual([
      [
        "warn",
        { code: "UNAVAILABLE", failedService: "postgres", peer: "127.0.0.1:5000" },
        "shop.v1.Orders/Place answered UNAVAILABLE, passing on the failure of its call of postgres: refused 1",
      ],
    ]);
    vi.advanceTimersByTime(10_000);
    expect(lines.slice(1)).toEqual([
      [
        "warn",
        { method: "/shop.v1.Orders/Place", code: "UNAVAILABLE", failedService: "postgres", calls: 49 },
        "shop.v1.Orders/Place answered UNAVAILABLE to 49 more calls in the last 10 s, passing on the failure of their calls of postgres; the last: refused 50",
      ],
    ]);
    // The outage goes on: counted on, without a new full line.
    log.failed(context, passedOn(Code.UNAVAILABLE, "postgres", "refused 51"));
    vi.advanceTimersByTime(10_000);
    expect(lines.slice(2).map(([, fields, message]) => [fields, message])).toEqual([
      [
        { method: "/shop.v1.Orders/Place", code: "UNAVAILABLE", failedService: "postgres", calls: 1 },
        "shop.v1.Orders/Place answered UNAVAILABLE to 1 more call in the last 10 s, passing on the failure of their calls of postgres; the last: refused 51",
      ],
    ]);
    // A window without one ends the counting; the next failure, another outage's, is logged in full.
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(3);
    expect(vi.getTimerCount()).toBe(0);
    log.failed(context, passedOn(Code.UNAVAILABLE, "postgres", "refused again"));
    expect(lines[3]?.[2]).toBe(
      "shop.v1.Orders/Place answered UNAVAILABLE, passing on the failure of its call of postgres: refused again",
    );
    log.stop();
  });

  it("counts each method, code and failed service apart, at the level of its first line; an open breaker's refusals stay at debug", () => {
    vi.useFakeTimers();
    const { context, lines } = servedCall();
    const log = new ServedFailureLog(context.logger);
    const open = new TsmicroError(Code.UNAVAILABLE, "circuit breaker open", {
      details: [errorReasonDetail(breakerOpenReason.reason, breakerOpenReason.domain)],
    });
    const failures = [
      passedOn(Code.UNAVAILABLE, "inventory", "no nodes of service inventory are registered"),
      passedOn(Code.UNAVAILABLE, "postgres", "cannot be reached"),
      passedOn(Code.DEADLINE_EXCEEDED, "postgres", "did not answer"),
      new TsmicroError(Code.INTERNAL, "the ledger is inconsistent"),
    ];
    for (let round = 0; round < 3; round++) {
      for (const failure of failures) log.failed(context, failure);
      log.failed(context, nameFailedService(open, "inventory"));
    }
    expect(lines.map(([level, fields]) => [level, (fields as { failedService?: string }).failedService])).toEqual([
      ["warn", "inventory"],
      ["warn", "postgres"],
      ["warn", "postgres"],
      ["error", undefined],
      ["debug", "inventory"],
      ["debug", "inventory"],
      ["debug", "inventory"],
    ]);
    lines.length = 0;
    vi.advanceTimersByTime(10_000);
    expect(lines.map(([level, fields]) => [level, fields])).toEqual([
      ["warn", { method: "/shop.v1.Orders/Place", code: "UNAVAILABLE", failedService: "inventory", calls: 2 }],
      ["warn", { method: "/shop.v1.Orders/Place", code: "UNAVAILABLE", failedService: "postgres", calls: 2 }],
      ["warn", { method: "/shop.v1.Orders/Place", code: "DEADLINE_EXCEEDED", failedService: "postgres", calls: 2 }],
      ["error", { method: "/shop.v1.Orders/Place", code: "INTERNAL", calls: 2 }],
    ]);
    expect(lines[3]?.[2]).toBe(
      "shop.v1.Orders/Place answered INTERNAL to 2 more calls in the last 10 s; the last: the ledger is inconsistent",
    );
    log.stop();
  });

  it("says the calls still counted at stop, leaves no timer, and logs each failure after it", () => {
    vi.useFakeTimers();
    const { context, lines } = servedCall();
    const log = new ServedFailureLog(context.logger);
    for (let call = 1; call <= 5; call++) log.failed(context, passedOn(Code.UNAVAILABLE, "inventory", `down ${call}`));
    vi.advanceTimersByTime(3_000);
    log.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(lines.map(([, , message]) => message)).toEqual([
      "shop.v1.Orders/Place answered UNAVAILABLE, passing on the failure of its call of inventory: down 1",
      "shop.v1.Orders/Place answered UNAVAILABLE to 4 more calls in the last 3 s, passing on the failure of their calls of inventory; the last: down 5",
    ]);
    log.failed(context, passedOn(Code.UNAVAILABLE, "inventory", "late 1"));
    log.failed(context, passedOn(Code.UNAVAILABLE, "inventory", "late 2"));
    expect(lines).toHaveLength(4);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps no process alive while it counts", () => {
    const { context } = servedCall();
    const log = new ServedFailureLog(context.logger);
    const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length;
    const before = timers();
    log.failed(context, passedOn(Code.UNAVAILABLE, "inventory", "down"));
    // Node lists a timer here only while it holds the process open.
    expect(timers()).toBe(before);
    log.stop();
  });

  it("puts no call's fields on a summary, whatever a logger's mixin reads of the call it runs in", async () => {
    // A user's own scope for the served call, as a server middleware sets it, which its logger's mixin reads.
    const requests = new AsyncLocalStorage<string>();
    const { logger, lines } = lineLogger();
    const log = new ServedFailureLog(logger, 1);
    const summaries: (string | undefined)[] = [];
    const warn = logger.warn;
    logger.warn = (fields: object | string, message?: string) => {
      if (typeof fields === "object" && "calls" in fields) summaries.push(requests.getStore() ?? "(none)");
      warn(fields as object, message);
    };
    const { context } = servedCall();
    const callOf = { ...context, logger } as CallContext;
    for (const request of ["first", "second"])
      requests.run(request, () => log.failed(callOf, passedOn(Code.UNAVAILABLE, "inventory", `down ${request}`)));
    await vi.waitFor(() => expect(summaries).toHaveLength(1));
    log.stop();
    expect(lines).toHaveLength(2);
    expect(summaries).toEqual(["(none)"]);
  });

  it("says the calls counted as failing a service said to answer again at once, and logs its next failure in full", () => {
    vi.useFakeTimers();
    const { context, lines } = servedCall();
    const log = new ServedFailureLog(context.logger);
    for (const service of ["postgres", "postgres", "inventory", "inventory"])
      log.failed(context, passedOn(Code.UNAVAILABLE, service, `${service} down`));
    lines.length = 0;
    sayAnswersAgain("postgres");
    log.failed(context, passedOn(Code.UNAVAILABLE, "postgres", "postgres down again"));
    log.failed(context, passedOn(Code.UNAVAILABLE, "inventory", "inventory still down"));
    expect(lines.map(([, , message]) => message)).toEqual([
      "shop.v1.Orders/Place answered UNAVAILABLE to 1 more call in the last 1 s, passing on the failure of their calls of postgres; the last: postgres down",
      "shop.v1.Orders/Place answered UNAVAILABLE, passing on the failure of its call of postgres: postgres down again",
    ]);
    log.stop();
  });

  it("listens for a service said to answer again only while it counts calls: a service never stopped is not kept", () => {
    vi.useFakeTimers();
    const before = listening.now;
    const { context } = servedCall();
    const log = new ServedFailureLog(context.logger, 1_000);
    expect(listening.now).toBe(before);
    log.failed(context, passedOn(Code.UNAVAILABLE, "postgres", "postgres down"));
    log.failed(context, passedOn(Code.UNAVAILABLE, "inventory", "inventory down"));
    expect(listening.now).toBe(before + 1);
    // Counting inventory's still; then a quiet window ends it.
    sayAnswersAgain("postgres");
    expect(listening.now).toBe(before + 1);
    vi.advanceTimersByTime(1_000);
    expect(listening.now).toBe(before);
    // Counting again; stop ends it too.
    log.failed(context, passedOn(Code.UNAVAILABLE, "postgres", "postgres down again"));
    expect(listening.now).toBe(before + 1);
    log.stop();
    expect(listening.now).toBe(before);
  });
});
