import { Code, codeName, errorReasonOf, failedService, isTsmicroError, TsmicroError } from "@tsmicro/runtime";

/**
 * Text that grpc-js (or Node's sockets under it) wrote rather than a
 * service: a service's own status message passes through unchanged, while
 * this text is replaced by a sentence, because "No connection established.
 * Last error: ... Resolution note:" tells a user nothing they can act on.
 * A tsmicro server's "deadline exceeded serving /pkg.Service/Method" is the
 * caller's deadline too, seen from the other end: whichever side's timer
 * fires first, the user reads the same sentence. So is the runtime client's
 * "no answer from SERVICE within N ms (flag)", said here with the node.
 */
const libraryText =
  /^no answer from \S+ within |No connection established|Last error:|Resolution note|Deadline exceeded|deadline exceeded serving|RST_STREAM|Connection dropped|Call ended without|failed to connect|Name resolution failed|Stream refused|Received http2|\bE(CONNREFUSED|CONNRESET|HOSTUNREACH|NETUNREACH|TIMEDOUT|NOTFOUND|PIPE|AI_AGAIN)\b/;

/** Socket errors by errno, as a sentence about `address`. */
const socketReasons: Readonly<Record<string, (address: string) => string>> = {
  ECONNREFUSED: (a) =>
    `connection refused at ${a}: nothing listens there (the node may have died without deregistering)`,
  ECONNRESET: (a) => `the connection to ${a} was reset (the node may have crashed or restarted)`,
  EPIPE: (a) => `the connection to ${a} broke (the node may have crashed or restarted)`,
  EHOSTUNREACH: (a) => `${a} cannot be reached from this machine`,
  ENETUNREACH: (a) => `${a} cannot be reached from this machine`,
  ETIMEDOUT: (a) => `connecting to ${a} timed out`,
  ENOTFOUND: (a) => `the host name in ${a} does not resolve`,
  EAI_AGAIN: (a) => `the host name in ${a} could not be resolved just now`,
};

/**
 * The reason a call failed, in one human sentence: the service's own
 * message when it sent one, else what went wrong on the way, read from the
 * library's text. `address` is the node when the caller knows it;
 * `timeoutMs` the call's timeout, to say how long was waited, and
 * `timeoutFlag` the flag that sets it (streams have their own).
 */
export function failureReason(
  error: TsmicroError,
  address?: string,
  timeoutMs?: number,
  timeoutFlag = "--client_request_timeout",
): string {
  const text = error.message;
  if (!libraryText.test(text)) return text;
  const errno = /\b(E[A-Z_]+) (\d{1,3}(?:\.\d{1,3}){3}:\d+|\[[0-9a-f:]+\]:\d+|[\w.-]+:\d+)/.exec(text);
  const where = errno?.[2] ?? /remote_addr=([^\s,]+)/.exec(text)?.[1] ?? address ?? "the node";
  const socket = errno ? socketReasons[errno[1]!] : undefined;
  if (socket) return socket(where);
  if (/Connection dropped|Call ended without|RST_STREAM/.test(text))
    return `the connection to ${where} broke off before the call finished (the node may have crashed or restarted)`;
  switch (error.code) {
    case Code.DEADLINE_EXCEEDED:
      return timeoutMs === undefined
        ? `no answer from ${where} in time (see ${timeoutFlag})`
        : `no answer from ${where} within ${timeoutMs} ms (${timeoutFlag})`;
    case Code.UNAVAILABLE:
      return `${where} could not be reached (is the node running?)`;
    case Code.CANCELLED:
      return `the call to ${where} was cancelled`;
    case Code.RESOURCE_EXHAUSTED:
      return `a message to or from ${where} is larger than allowed (see --client_max_recv_msg_size and --client_max_send_msg_size)`;
    default:
      return `the call to ${where} failed in transport (${codeName(error.code)})`;
  }
}

/**
 * A failure as the CLI reports it: the same code (so `call failed: CODE:`
 * stays exact), `what` first, the reason as a sentence. A failure the
 * service called passed on from a call of its own (it names another service
 * as the one that failed) keeps its message: its timeout or address is that
 * call's, not this one's. Anything not a TsmicroError is returned as it
 * came, for the caller to judge.
 */
export function describeFailure(
  error: unknown,
  what: string,
  service: string,
  timeoutMs?: number,
  timeoutFlag?: string,
): unknown {
  if (!isTsmicroError(error)) return error;
  const passedOn = failedService(error);
  const reason =
    passedOn !== undefined && passedOn !== service
      ? error.message
      : failureReason(error, undefined, timeoutMs, timeoutFlag);
  const typed = typedReason(error);
  if (reason === error.message && error.message.startsWith(what) && typed === "") return error;
  const said = reason.startsWith(what) ? reason : `${what}: ${reason}`;
  return new TsmicroError(error.code, `${said}${typed}`, { cause: error, retryable: error.retryable });
}

/** A typed error's reason and metadata, as ` (reason USER_NOT_FOUND, field=name)`; empty for an error without one. */
function typedReason(error: TsmicroError): string {
  const info = errorReasonOf(error);
  if (!info) return "";
  const metadata = Object.entries(info.metadata).map(([key, value]) => `, ${key}=${value}`);
  return ` (reason ${info.reason}${metadata.join("")})`;
}
