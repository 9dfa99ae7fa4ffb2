import { formatError, type ErrorCode } from "./catalogue.js";

/**
 * A mistake in setup, configuration or input (a bad flag, proto or option),
 * reported before anything runs. Its message says what, where and what to do.
 */
export class SetupError extends Error {
  override readonly name = "SetupError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, ...args: readonly unknown[]) {
    super(formatError(code, ...args));
    this.code = code;
  }
}

/** True when `error` is a SetupError, even one from another copy of the runtime. */
export function isSetupError(error: unknown): error is SetupError {
  return error instanceof Error && error.name === "SetupError" && typeof (error as SetupError).code === "string";
}
