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
 * such contexts (its parent's and its own). It may carry one more value,
 * under `key`: a service puts the call being handled there, so that the
 * handler runs in one scope, the call's and its span's, rather than two.
 * Setting another value on it makes OTel's own context, holding the span,
 * the call and that value.
 */
export class SpanOnlyContext implements Context {
  readonly #api: OtelApiModule;
  readonly #span: Span;
  readonly #key: symbol | undefined;
  readonly #value: unknown;

  constructor(api: OtelApiModule, span: Span, key?: symbol, value?: unknown) {
    this.#api = api;
    this.#span = span;
    this.#key = key;
    this.#value = value;
  }

  getValue(key: symbol): unknown {
    if (key === spanKey) return this.#span;
    return key === this.#key ? this.#value : undefined;
  }

  setValue(key: symbol, value: unknown): Context {
    return this.#full().setValue(key, value);
  }

  deleteValue(key: symbol): Context {
    const root = this.#api.ROOT_CONTEXT;
    if (key === spanKey) return this.#key ? root.setValue(this.#key, this.#value) : root;
    return key === this.#key ? new SpanOnlyContext(this.#api, this.#span) : this;
  }

  /** OTel's own context with what this one holds. */
  #full(): Context {
    const withSpan = this.#api.trace.setSpan(this.#api.ROOT_CONTEXT, this.#span);
    return this.#key ? withSpan.setValue(this.#key, this.#value) : withSpan;
  }
}
