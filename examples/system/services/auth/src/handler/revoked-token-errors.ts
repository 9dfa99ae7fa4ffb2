import { Code, TsmicroError } from "@tsmicro/runtime";
import {
  InvalidRevokedTokenError,
  RevokedTokenAlreadyExistsError,
  RevokedTokenNotFoundError,
  RevokedTokenReferenceError,
} from "../domain/model/revoked-token.js";

/**
 * The revokedToken domain's errors as typed errors callers can check, any
 * number of hops away; anything else passes on and answers INTERNAL (logged
 * with its stack, never sent to the caller).
 */
export function revokedTokenTransportError(error: unknown): unknown {
  if (error instanceof RevokedTokenNotFoundError) return new TsmicroError(Code.NOT_FOUND, error.message);
  if (error instanceof RevokedTokenAlreadyExistsError) return new TsmicroError(Code.ALREADY_EXISTS, error.message);
  if (error instanceof InvalidRevokedTokenError) return new TsmicroError(Code.INVALID_ARGUMENT, error.message);
  if (error instanceof RevokedTokenReferenceError) return new TsmicroError(Code.FAILED_PRECONDITION, error.message);
  return error;
}
