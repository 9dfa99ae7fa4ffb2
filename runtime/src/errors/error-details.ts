import { ErrorInfo, RetryInfo } from "../gen/google/rpc/error_details.js";
import { Status } from "../gen/google/rpc/status.js";
import { TsmicroError, isTsmicroError, type Code } from "./tsmicro-error.js";

/** One error detail: a `google.protobuf.Any`, as `google.rpc.Status.details` carries them. */
export interface ErrorDetail {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

/** The metadata key gRPC uses for a `google.rpc.Status` with details. */
export const statusDetailsKey = "grpc-status-details-bin";

const errorInfoTypeUrl = "type.googleapis.com/google.rpc.ErrorInfo";

/** Why an error happened, machine-readable: `google.rpc.ErrorInfo` (reason, domain, metadata). */
export interface ErrorReason {
  readonly reason: string;
  readonly domain: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** A detail naming the error's reason, as typed errors from proto enums carry it. */
export function errorReasonDetail(
  reason: string,
  domain: string,
  metadata: Readonly<Record<string, string>> = {},
): ErrorDetail {
  return { typeUrl: errorInfoTypeUrl, value: ErrorInfo.encode({ reason, domain, metadata: { ...metadata } }).finish() };
}

const retryInfoTypeUrl = "type.googleapis.com/google.rpc.RetryInfo";

/** A detail saying how long a caller should wait before trying again: `google.rpc.RetryInfo`. */
export function retryDelayDetail(delayMs: number): ErrorDetail {
  const ms = Math.max(0, Math.ceil(delayMs));
  const retryDelay = { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
  return { typeUrl: retryInfoTypeUrl, value: RetryInfo.encode({ retryDelay }).finish() };
}

/** The wait a failure's `google.rpc.RetryInfo` detail asks for, in milliseconds; undefined without one. */
export function retryDelayOf(error: TsmicroError): number | undefined {
  const detail = error.details.find((d) => d.typeUrl === retryInfoTypeUrl);
  if (!detail) return undefined;
  try {
    const { retryDelay } = RetryInfo.decode(detail.value);
    return retryDelay ? Number(retryDelay.seconds) * 1000 + retryDelay.nanos / 1_000_000 : undefined;
  } catch {
    return undefined;
  }
}

/** The reason an error carries in its details, if any. */
export function errorReasonOf(error: unknown): ErrorReason | undefined {
  if (!isTsmicroError(error)) return undefined;
  const detail = error.details.find((d) => d.typeUrl === errorInfoTypeUrl);
  return detail ? ErrorInfo.decode(detail.value) : undefined;
}

/** True when `error` carries the reason `reason` of `domain` (the enum's full name), wherever it was thrown. */
export function hasErrorReason(error: unknown, domain: string, reason: string): error is TsmicroError {
  const info = errorReasonOf(error);
  return info !== undefined && info.domain === domain && info.reason === reason;
}

/** Encodes a status with details for `grpc-status-details-bin`. */
export function encodeStatus(code: Code, message: string, details: readonly ErrorDetail[]): Uint8Array {
  return Status.encode({
    code,
    message,
    details: details.map((d) => ({ typeUrl: d.typeUrl, value: d.value })),
  }).finish();
}

/** Decodes `grpc-status-details-bin`; undefined when it is not a valid status. */
export function decodeStatus(bytes: Uint8Array): { code: number; message: string; details: ErrorDetail[] } | undefined {
  try {
    const status = Status.decode(bytes);
    return { code: status.code, message: status.message, details: status.details };
  } catch {
    return undefined;
  }
}

/** The error of one reason of a proto error enum: what generated constructors such as `UserErrors.userNotFound` return. */
export function reasonError(
  code: Code,
  domain: string,
  reason: string,
  message: string,
  metadata: Readonly<Record<string, string>> = {},
): TsmicroError {
  return new TsmicroError(code, message, { details: [errorReasonDetail(reason, domain, metadata)] });
}
