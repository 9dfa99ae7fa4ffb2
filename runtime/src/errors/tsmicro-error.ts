import type { Metadata } from "../definition/call.js";
import type { ErrorDetail } from "./error-details.js";

/** gRPC status codes, with the numbers gRPC puts on the wire. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC status code. */
export type Code = (typeof Code)[keyof typeof Code];

/** The name of a code, such as `UNAVAILABLE`. */
export function codeName(code: number): string {
  return Object.entries(Code).find(([, value]) => value === code)?.[0] ?? `CODE_${code}`;
}

/** What a TsmicroError carries besides its code and message. */
export interface TsmicroErrorOptions {
  /** Whether the same call may succeed on another node: read by retries and breakers instead of guessing. */
  readonly retryable?: boolean;
  /**
   * The call certainly ran no handler: it never left this process (no node,
   * an open breaker, a connection that was never made) or the server refused
   * its stream before processing it. Such a failure is retried even for a
   * method with side effects.
   */
  readonly unprocessed?: boolean;
  /**
   * The call failed after its request may have reached the server and
   * without an answer from it (the connection dropped, the deadline passed,
   * the stream was reset): whether it was applied is unknown. A call of a
   * method with side effects that fails so is not retried, and its message
   * says so.
   */
  readonly mayHaveBeenApplied?: boolean;
  /** Details as `google.protobuf.Any`; they cross the wire in `grpc-status-details-bin` and survive further hops. */
  readonly details?: readonly ErrorDetail[];
  /**
   * Trailing metadata: a handler's error sends it with the status (over what
   * `setTrailer` set); a client's error holds the trailers the server sent.
   */
  readonly metadata?: Metadata;
  readonly cause?: unknown;
}

/** Shared by every error without trailers, so creating an error allocates nothing for them. */
const noMetadata: Metadata = Object.freeze({});

/** Codes that mean "this node could not take the call", so another node may. */
const retryableByDefault = new Set<number>([Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED]);

/**
 * The one error of calls: a gRPC status code, a message, whether a retry on
 * another node may succeed, and details. Handlers throw it to answer with a
 * status; clients receive it for any failed call.
 */
export class TsmicroError extends Error {
  override readonly name = "TsmicroError";
  readonly code: Code;
  readonly retryable: boolean;
  /** See TsmicroErrorOptions.unprocessed. */
  readonly unprocessed: boolean;
  /** See TsmicroErrorOptions.mayHaveBeenApplied. */
  readonly mayHaveBeenApplied: boolean;
  readonly details: readonly ErrorDetail[];
  /** Trailing metadata sent or received with the status; empty when there is none. */
  readonly metadata: Metadata;

  constructor(code: Code, message: string, options: TsmicroErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? retryableByDefault.has(code);
    this.unprocessed = options.unprocessed ?? false;
    this.mayHaveBeenApplied = options.mayHaveBeenApplied ?? false;
    this.details = options.details ?? [];
    this.metadata = options.metadata ?? noMetadata;
  }
}

/**
 * A copy of `error` with its code, flags, details, cause and stack, and the message and metadata
 * given (its own by default): an error object may fail several calls at once (every call of a
 * connection that dropped), so what one caller adds goes on a copy.
 */
export function copyOfError(
  error: TsmicroError,
  { message = error.message, metadata = error.metadata }: { message?: string; metadata?: Metadata } = {},
): TsmicroError {
  const copy = new TsmicroError(error.code, message, {
    retryable: error.retryable,
    unprocessed: error.unprocessed,
    mayHaveBeenApplied: error.mayHaveBeenApplied,
    details: error.details,
    metadata,
    cause: error.cause,
  });
  copy.stack = error.stack;
  return copy;
}

/** True for a TsmicroError, even one from another copy of the runtime. */
export function isTsmicroError(error: unknown): error is TsmicroError {
  return error instanceof Error && error.name === "TsmicroError" && typeof (error as TsmicroError).code === "number";
}
