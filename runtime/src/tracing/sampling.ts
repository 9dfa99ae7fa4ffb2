import { randomFillSync } from "node:crypto";
import type { SpanContext } from "@opentelemetry/api";
import type { SamplerName } from "./tracing-settings.js";

/**
 * The standard samplers (OTEL_TRACES_SAMPLER) and span ids, without the
 * OpenTelemetry SDK: a service that exports nothing (the default) starts
 * without loading it.
 */

/**
 * Whether a new span in trace `traceId`, under `parent` (undefined at the
 * root), is sampled. The caller passes a parent only when it can be
 * propagated (ids of the right length, not zeros): a span under any other
 * is a root.
 */
export type Sample = (parent: SpanContext | undefined, traceId: string) => boolean;

/** The sampler OTEL_TRACES_SAMPLER names, with the ratio of the `*traceidratio` ones. */
export function samplerOf(name: SamplerName, ratio: number): Sample {
  const root = rootSampler(name, ratio);
  if (!name.startsWith("parentbased_")) return (_parent, traceId) => root(traceId);
  // Parent-based: a span follows its parent's decision (the sampled flag); only a root span asks the root sampler.
  return (parent, traceId) => (parent ? (parent.traceFlags & 1) === 1 : root(traceId));
}

function rootSampler(name: SamplerName, ratio: number): (traceId: string) => boolean {
  if (name.endsWith("always_on")) return () => true;
  if (name.endsWith("always_off")) return () => false;
  // OpenTelemetry's TraceIdRatioBased as its specification now has it: a threshold on the trace id's
  // rightmost 56 bits, which W3C Trace Context level 2 makes the random part.
  // (Their value is exact to 53 bits: near the threshold a decision may differ, never a whole ratio.)
  if (ratio >= 1) return () => true;
  const threshold = Math.max(0, ratio) * 2 ** 56;
  return (traceId) => Number.parseInt(traceId.slice(18), 16) < threshold;
}

/**
 * Random bytes drawn in bulk and turned to hex at once, handed out as span
 * and trace ids: an id is a slice of that text, which costs no call into
 * Buffer's native hex encoder per id.
 */
export class RandomIds {
  readonly #pool = Buffer.allocUnsafe(4096);
  readonly #fill: (bytes: Buffer) => void;
  #hex = "";
  #at = 0;

  /** `fill` puts random bytes in the pool (a test's own, to see ids of zeros skipped). */
  constructor(fill: (bytes: Buffer) => void = randomFillSync) {
    this.#fill = fill;
  }

  traceId(): string {
    return this.#next(32);
  }

  spanId(): string {
    return this.#next(16);
  }

  /** The next `digits` hex digits, never all zeros (an invalid id). */
  #next(digits: number): string {
    for (;;) {
      if (this.#at + digits > this.#hex.length) {
        this.#fill(this.#pool);
        this.#hex = this.#pool.toString("hex");
        this.#at = 0;
      }
      const from = this.#at;
      this.#at += digits;
      const id = this.#hex.slice(from, this.#at);
      // An id that does not start with 0 is not all zeros: the expression runs for one id in 16.
      if (id.charCodeAt(0) !== zero || !allZeros.test(id)) return id;
    }
  }
}

const allZeros = /^0+$/;
const zero = 48;
