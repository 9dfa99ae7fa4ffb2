import type { Attributes } from "@opentelemetry/api";
import type { Tracing } from "./tracing.js";
import { noteFailedSpan } from "./active-trace-fields.js";

/** What OTel's messaging conventions record of one message. */
export interface MessageFacts {
  /** The broker's kind: `http`, `nats` or `memory` (`messaging.system`). */
  readonly system: string;
  readonly topic: string;
  readonly id: string;
}

/**
 * Publishes inside a PRODUCER span `send <topic>`, a child of the active
 * span (the call in flight, if any); `send` gets the span's `traceparent`
 * (and `tracestate`) to put in the message headers, so subscribers continue
 * the trace. Untraced when `tracing` is undefined.
 */
export async function tracedPublish(
  tracing: Tracing | undefined,
  facts: MessageFacts,
  send: (traceHeaders: Record<string, string>) => Promise<void>,
): Promise<void> {
  if (!tracing) return send({});
  const { api, tracer } = tracing;
  const parent = api.context.active();
  const span = tracer.startSpan(
    `send ${facts.topic}`,
    { kind: api.SpanKind.PRODUCER, attributes: messagingAttributes(facts, "send") },
    parent,
  );
  const headers: Record<string, string> = {};
  tracing.inject(span.spanContext(), headers);
  try {
    await send(headers);
  } catch (error) {
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: messageOf(error) });
    throw error;
  } finally {
    span.end();
  }
}

/**
 * Runs a subscriber's handler inside a CONSUMER span `process <topic>`,
 * the child of the publisher's span named by the message's `traceparent`,
 * and active, so the calls the handler makes and its log lines join the
 * publisher's trace. Untraced when `tracing` is undefined.
 */
export async function tracedConsume(
  tracing: Tracing | undefined,
  facts: MessageFacts & { readonly headers: Readonly<Record<string, string>> },
  handle: () => Promise<void>,
): Promise<void> {
  if (!tracing) return handle();
  const { api, tracer } = tracing;
  const parent = tracing.extract(facts.headers);
  const span = tracer.startSpan(
    `process ${facts.topic}`,
    { kind: api.SpanKind.CONSUMER, attributes: messagingAttributes(facts, "process") },
    parent,
  );
  try {
    await api.context.with(api.trace.setSpan(parent, span), handle);
  } catch (error) {
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: messageOf(error) });
    // The broker logs the failure after this span's context is gone: the line still names the trace.
    noteFailedSpan(error, span.spanContext());
    throw error;
  } finally {
    span.end();
  }
}

function messagingAttributes(facts: MessageFacts, operation: "send" | "process"): Attributes {
  return {
    "messaging.system": facts.system,
    "messaging.destination.name": facts.topic,
    "messaging.operation.type": operation,
    "messaging.message.id": facts.id,
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
