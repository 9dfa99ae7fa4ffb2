import type { Context, Span } from "@opentelemetry/api";
import type { OtelApiModule } from "./otel-api.js";

/**
 * The key OTel's API keeps the active span under. The API makes its keys
 * with `Symbol.for`, so that every copy of it in a process shares them.
 */
const spanKey = Symbol.for("OpenTelemetry Context Key SPAN");

/**
 * A context that holds one span on top of the root context, as
 * `api.trace.setSpan(api.ROOT_CONTEXT, span)` does, without its Map: OTel's
 * context copies a Map for each value set, and a traced call makes two
 * such contexts (its parent's and its own). Setting another value on it
 * makes OTel's own context, holding the span and that value.
 */
export class SpanOnlyContext implements Context {
  readonly #api: OtelApiModule;
  readonly #span: Span;

  constructor(api: OtelApiModule, span: Span) {
    this.#api = api;
    this.#span = span;
  }

  getValue(key: symbol): unknown {
    return key === spanKey ? this.#span : undefined;
  }

  setValue(key: symbol, value: unknown): Context {
    return this.#api.trace.setSpan(this.#api.ROOT_CONTEXT, this.#span).setValue(key, value);
  }

  deleteValue(key: symbol): Context {
    return key === spanKey ? this.#api.ROOT_CONTEXT : this;
  }
}
