/**
 * Typed events over any broker: publishers that encode a generated events
 * definition's messages, and broker handlers that decode them for a typed
 * handler. Bodies are protobuf binary (`content-type: application/protobuf`);
 * a body sent as `application/json` (a publisher in another language, or
 * the gateway) is read as proto3 JSON, strictly, as the gateway reads requests.
 */
import { randomUUID } from "node:crypto";
import {
  eventContentTypes,
  type EventContext,
  type EventDefinition,
  type EventsDefinition,
  type PublisherOf,
} from "../definition/events.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Logger } from "../logging/logger.js";
import { tracedConsume, tracedPublish } from "../tracing/messaging-span.js";
import type { Tracing } from "../tracing/tracing.js";
import type { Broker, BrokerHandler, BrokerMessage, PublishOptions } from "./broker.js";

/** Where a typed publisher sends: a started broker, and the tracing that is running, if any. */
export interface PublishTarget {
  /** The broker, started (a publisher made before the service started waits for it). */
  broker(): Promise<Broker>;
  tracing(): Tracing | undefined;
  /** The signal of the call being handled, if any and not yet answered: its publishes end with it. */
  callSignal?(): AbortSignal | undefined;
}

/** A typed publisher of every event of `definition`. */
export function createPublisher<E extends EventsDefinition>(definition: E, target: PublishTarget): PublisherOf<E> {
  const publisher: Record<string, (event: unknown, options?: PublishOptions) => Promise<void>> = {};
  for (const [localName, event] of Object.entries(definition.events)) {
    publisher[localName] = (message, options) => publishEvent(event, message, options ?? {}, target);
  }
  return publisher as PublisherOf<E>;
}

async function publishEvent(
  event: EventDefinition,
  message: unknown,
  options: PublishOptions,
  target: PublishTarget,
): Promise<void> {
  const body = event.codec.encode(event.codec.fromPartial(message as never)).finish();
  const id = options.id ?? randomUUID();
  const signal = options.signal ?? target.callSignal?.();
  const broker = await target.broker();
  await tracedPublish(target.tracing(), { system: broker.kind, topic: event.topic, id }, (traceHeaders) =>
    broker.publish(event.topic, body, {
      id,
      headers: { ...options.headers, ...traceHeaders, "content-type": eventContentTypes.protobuf },
      ...(signal ? { signal } : {}),
    }),
  );
}

/** What a typed event handler runs with besides its event. */
export interface EventHandlerContext {
  readonly logger: Logger;
  /** The broker's kind, for the consumer span's `messaging.system`. */
  readonly system: string;
  /** The events definition's descriptors (base64 FileDescriptorSet): what JSON bodies are read against. */
  readonly fileDescriptorSet: string;
  tracing(): Tracing | undefined;
}

/**
 * The broker handler of one event: decodes each message and calls `handle`
 * in a consumer span. A body that does not decode, like a handler that
 * throws, fails the message (logged with its id and the span's trace); it
 * fails as INVALID_ARGUMENT, so it is not redelivered but dead-lettered at
 * once where the backend keeps dead letters (see HandlerRunner).
 */
export function eventBrokerHandler<T>(
  event: EventDefinition<T>,
  handle: (event: T, context: EventContext) => Promise<void>,
  context: EventHandlerContext,
): BrokerHandler {
  let jsonReader: Promise<(text: string) => T> | undefined;
  // protobuf-es and the descriptors load with the first JSON body: generated publishers send protobuf.
  const readJson = () => {
    jsonReader ??= import("./event-json.js").then((m) => m.eventJsonReader(event, context.fileDescriptorSet));
    return jsonReader;
  };
  return (message) => {
    const eventContext: EventContext = {
      id: message.id,
      topic: message.topic,
      headers: message.headers,
      attempt: message.attempt,
      logger: context.logger.child({ topic: message.topic, messageId: message.id }),
    };
    const facts = { system: context.system, topic: message.topic, id: message.id, headers: message.headers };
    // Decoded inside the span: a body that does not decode fails it, and its line carries the trace.
    return tracedConsume(context.tracing(), facts, async () =>
      handle(await decodeEvent(event, message, readJson), eventContext),
    );
  };
}

/** The message's event, from protobuf binary or, for `application/json` bodies, strict proto3 JSON. */
async function decodeEvent<T>(
  event: EventDefinition<T>,
  message: BrokerMessage,
  readJson: () => Promise<(text: string) => T>,
): Promise<T> {
  const json = headerOf(message.headers, "content-type")?.startsWith(eventContentTypes.json) ?? false;
  try {
    return json ? (await readJson())(new TextDecoder().decode(message.body)) : event.codec.decode(message.body);
  } catch (error) {
    const form = json ? "proto3 JSON" : "protobuf";
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      `message ${message.id} on ${message.topic} is not a ${json ? "JSON " : ""}${event.messageType}: ` +
        `${error instanceof Error ? error.message : String(error)}; its publisher must send that message as ${form}`,
    );
  }
}

/** A header by name, whatever its case (NATS and HTTP differ in what they keep). */
export function headerOf(headers: Readonly<Record<string, string>>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === lower) return value;
  return undefined;
}
