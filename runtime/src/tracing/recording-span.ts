import type {
  Attributes,
  AttributeValue,
  Exception,
  Link,
  Span,
  SpanContext,
  SpanKind,
  SpanStatus,
  TimeInput,
  Tracer,
} from "@opentelemetry/api";
import { redactText } from "../logging/redact.js";

/** At most this many attributes, events and links a span keeps (the OTel SDK's default limits). */
const limit = 128;
/** No events or links: one empty list all spans share until they add one. */
const none: never[] = [];
/** Status UNSET, shared until a span sets its own. */
const unset: SpanStatus = Object.freeze({ code: 0 });

/** An event on a span: its time in epoch milliseconds. */
export interface SpanEvent {
  readonly name: string;
  readonly timeMs: number;
  readonly attributes: Attributes | undefined;
}

/**
 * A span that records what an exporter sends, and nothing more: ids,
 * name, kind, start and end as epoch milliseconds, attributes, status,
 * events and links. The OTel SDK's span also keeps its processor, resource,
 * limits and two clocks per span; on a busy service that costs more than the
 * call it describes. Ended, it goes to `ended` (the batch it is exported in).
 */
export class RecordingSpan implements Span {
  readonly #context: SpanContext;
  readonly parent: SpanContext | undefined;
  readonly kind: SpanKind;
  readonly startMs: number;
  /**
   * The attributes shared between spans (the same set for every call of a
   * method), never written: those the span started with, or a larger set
   * shareAttributes() put in their place.
   */
  baseAttributes: Attributes | undefined;
  /** What setAttribute added or changed, made on the first call. */
  ownAttributes: Attributes | undefined;
  #ownCount = 0;
  events: SpanEvent[] = none;
  links: Link[];
  readonly #ended: (span: RecordingSpan) => void;
  name: string;
  status: SpanStatus = unset;
  endMs = 0;

  constructor(
    context: SpanContext,
    parent: SpanContext | undefined,
    name: string,
    kind: SpanKind,
    attributes: Attributes | undefined,
    links: Link[] | undefined,
    ended: (span: RecordingSpan) => void,
    /** The tracer that made it, which makes the spans user code starts inside it (see global-tracer.ts). */
    readonly tracer?: Tracer,
  ) {
    this.#context = context;
    this.parent = parent;
    this.name = name;
    this.kind = kind;
    this.startMs = nowMs();
    this.baseAttributes = attributes;
    this.links = links ? links.slice(0, limit) : none;
    this.#ended = ended;
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  setAttribute(key: string, value: AttributeValue | undefined): this {
    if (!this.isRecording() || value === undefined) return this;
    const own = this.ownAttributes;
    if (own && key in own) {
      own[key] = value;
    } else if (this.#attributeRoom(key)) {
      this.ownAttributes ??= {};
      this.ownAttributes[key] = value;
      this.#ownCount++;
    }
    return this;
  }

  /**
   * Puts `shared`, a frozen set holding every attribute of the shared set
   * the span has, and more, in its place: attributes many spans share (a
   * method's and a node's) cost a span neither copying nor encoding.
   */
  shareAttributes(shared: Readonly<Attributes>): this {
    if (this.isRecording()) this.baseAttributes = shared;
    return this;
  }

  setAttributes(attributes: Attributes): this {
    for (const key in attributes) this.setAttribute(key, attributes[key]);
    return this;
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (!this.isRecording() || this.events.length >= limit) return this;
    if (this.events === none) this.events = [];
    const attributes = isTimeInput(attributesOrTime) ? undefined : attributesOrTime;
    const at = isTimeInput(attributesOrTime) ? attributesOrTime : time;
    this.events.push({
      name,
      timeMs: at === undefined ? nowMs() : msOf(at),
      attributes: attributes && withoutSecrets(attributes),
    });
    return this;
  }

  addLink(link: Link): this {
    if (!this.isRecording() || this.links.length >= limit) return this;
    if (this.links === none) this.links = [];
    this.links.push(link);
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  setStatus(status: SpanStatus): this {
    // OK is final; UNSET never overrides (as the SDK's span).
    if (this.isRecording() && this.status.code !== 1 && status.code !== 0)
      this.status = status.message === undefined ? { ...status } : { ...status, message: redactText(status.message) };
    return this;
  }

  updateName(name: string): this {
    if (this.isRecording()) this.name = name;
    return this;
  }

  end(endTime?: TimeInput): void {
    if (!this.isRecording()) return;
    this.endMs = Math.max(this.startMs, endTime === undefined ? nowMs() : msOf(endTime));
    this.#ended(this);
  }

  isRecording(): boolean {
    return this.endMs === 0;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const error = typeof exception === "string" ? { message: exception } : exception;
    const attributes: Attributes = {};
    if ("name" in error && error.name) attributes["exception.type"] = error.name;
    else if ("code" in error && error.code !== undefined) attributes["exception.type"] = String(error.code);
    if (error.message) attributes["exception.message"] = error.message;
    if (error.stack) attributes["exception.stacktrace"] = error.stack;
    this.addEvent("exception", attributes, time);
  }

  #attributeRoom(key: string): boolean {
    const base = this.baseAttributes;
    if (base && key in base) return true;
    return (base ? sizeOf(base) : 0) + this.#ownCount < limit;
  }
}

/** Keys of a failure's words in span events, which hold what log lines redact (a password in a URL, a token). */
const failureKeys = ["exception.message", "exception.stacktrace"] as const;

/**
 * `attributes` with secrets in a failure's words redacted, as the log has them: a trace
 * collector usually has more readers than the logs.
 */
function withoutSecrets(attributes: Attributes): Attributes {
  if (!failureKeys.some((key) => typeof attributes[key] === "string")) return attributes;
  const redacted = { ...attributes };
  for (const key of failureKeys) {
    const value = redacted[key];
    if (typeof value === "string") redacted[key] = redactText(value);
  }
  return redacted;
}

/** How many attributes a set holds: counted once for a frozen (shared) set. */
function sizeOf(attributes: Attributes): number {
  let size = sharedSizes.get(attributes);
  if (size === undefined) {
    size = 0;
    for (const _ in attributes) size++;
    if (Object.isFrozen(attributes)) sharedSizes.set(attributes, size);
  }
  return size;
}

const sharedSizes = new WeakMap<Attributes, number>();

/** Now, in epoch milliseconds with sub-microsecond digits. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function isTimeInput(value: unknown): value is TimeInput {
  return typeof value === "number" || value instanceof Date || (Array.isArray(value) && value.length === 2);
}

/** A TimeInput in epoch milliseconds: a number is epoch milliseconds (or performance.now() when small), as in the SDK. */
function msOf(time: TimeInput): number {
  if (typeof time === "number") return time < performance.timeOrigin ? performance.timeOrigin + time : time;
  if (time instanceof Date) return time.getTime();
  return time[0] * 1_000 + time[1] / 1e6;
}
