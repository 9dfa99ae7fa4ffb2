import type { SpanContext } from "@opentelemetry/api";
import type { TraceCarrier } from "./tracing.js";

/**
 * W3C Trace Context's `traceparent` (https://www.w3.org/TR/trace-context/),
 * read and written by hand: every traced call pays for both, and OTel's
 * propagator runs regular expressions and builds a context per header.
 * `version-traceid-parentid-flags`, lower-case hex: `00-<32>-<16>-<2>`.
 */

const zeroTraceId = "0".repeat(32);
const zeroSpanId = "0".repeat(16);
const dash = 45;

/** 1 for the character codes of lower-case hex digits. */
const lowerHex = new Uint8Array(128);
for (const digit of "0123456789abcdef") lowerHex[digit.charCodeAt(0)] = 1;

/**
 * Whether `value` is `version-traceid-parentid-flags` in lower-case hex,
 * then the end or (a later version's) more fields after a dash. A table
 * lookup per character checks it in half the time of a regular expression
 * (Node 24: 126 ns against 275 ns), on every traced call a server takes.
 */
function hasTraceparentShape(value: string): boolean {
  if (value.length < 55 || (value.length > 55 && value.charCodeAt(55) !== dash)) return false;
  for (let i = 0; i < 55; i++) {
    const code = value.charCodeAt(i);
    if (i === 2 || i === 35 || i === 52) {
      if (code !== dash) return false;
    } else if (code > 127 || lowerHex[code] === 0) return false;
  }
  return true;
}

/** A span context read from a `traceparent` header (without its trace state), or undefined when it is not valid. */
export function parseTraceparent(header: string): SpanContext | undefined {
  const value = isSpace(header.charCodeAt(0)) || isSpace(header.charCodeAt(header.length - 1)) ? header.trim() : header;
  if (!hasTraceparentShape(value)) return undefined;
  // Version ff is invalid; version 00 is exactly 55 characters.
  if (value.startsWith("ff") || (value.length > 55 && value.startsWith("00"))) return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  if (traceId === zeroTraceId || spanId === zeroSpanId) return undefined;
  return { traceId, spanId, traceFlags: Number.parseInt(value.slice(53, 55), 16), isRemote: true };
}

/** The `traceparent` of a span context. */
export function formatTraceparent(span: SpanContext): string {
  const flags = span.traceFlags & 0xff;
  return `00-${span.traceId}-${span.spanId}-${flags < 16 ? "0" : ""}${flags.toString(16)}`;
}

/** Whether a span context can be propagated: ids of the right length, not all zeros. */
export function isPropagatable(span: SpanContext): boolean {
  return (
    span.traceId.length === 32 &&
    span.spanId.length === 16 &&
    span.traceId !== zeroTraceId &&
    span.spanId !== zeroSpanId
  );
}

/** A carrier's `traceparent`/`tracestate` value: one string, the first of a list, or undefined. */
export function headerOf(carrier: TraceCarrier, key: string): string | undefined {
  const value = carrier[key];
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    // Repeated tracestate headers are one list; a repeated traceparent is ambiguous, and the first wins.
    const strings = value.filter((item): item is string => typeof item === "string");
    if (strings.length > 0) return key === "tracestate" ? strings.join(",") : strings[0];
  }
  return undefined;
}

/** Space or tab: the optional whitespace around an HTTP header's value. */
function isSpace(code: number): boolean {
  return code === 32 || code === 9;
}
