import type { SpanContext } from "@opentelemetry/api";
import type { TraceCarrier } from "./tracing.js";

/**
 * W3C Trace Context's `traceparent` (https://www.w3.org/TR/trace-context/),
 * read and written by hand: every traced call pays for both, and OTel's
 * propagator runs regular expressions and builds a context per header.
 * `version-traceid-parentid-flags`, lower-case hex: `00-<32>-<16>-<2>`.
 */

/** A span context read from a `traceparent` header (without its trace state), or undefined when it is not valid. */
export function parseTraceparent(header: string): SpanContext | undefined {
  const value = header.trim();
  // Version 00 is exactly 55 characters; a later version may add fields after a dash.
  if (value.length < 55 || (value.length > 55 && (value[55] !== "-" || value.startsWith("00")))) return undefined;
  if (value[2] !== "-" || value[35] !== "-" || value[52] !== "-") return undefined;
  if (!isHex(value, 0, 2) || value.startsWith("ff")) return undefined;
  if (!isHex(value, 3, 35) || isZero(value, 3, 35)) return undefined;
  if (!isHex(value, 36, 52) || isZero(value, 36, 52)) return undefined;
  if (!isHex(value, 53, 55)) return undefined;
  return {
    traceId: value.slice(3, 35),
    spanId: value.slice(36, 52),
    traceFlags: Number.parseInt(value.slice(53, 55), 16),
    isRemote: true,
  };
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
    !isZero(span.traceId, 0, 32) &&
    !isZero(span.spanId, 0, 16)
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

function isHex(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (!((code >= 48 && code <= 57) || (code >= 97 && code <= 102))) return false;
  }
  return true;
}

function isZero(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (text.charCodeAt(i) !== 48) return false;
  return true;
}
