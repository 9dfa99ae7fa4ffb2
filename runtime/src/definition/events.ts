/**
 * Typed events: what a generated `*.micro.ts` declares for the messages its
 * proto marks with `option (tsmicro.event)`, and the handler and publisher
 * types the runtime derives from that one declaration.
 */
import type { PublishOptions } from "../broker/broker.js";
import type { Logger } from "../logging/logger.js";
import type { DeepPartial, MessageCodec } from "./definition.js";

/** One event: a message type published on one topic. */
export interface EventDefinition<T = unknown> {
  /** The broker topic, from `(tsmicro.event).topic` or else the message's full name. */
  readonly topic: string;
  /** Fully qualified proto name of the message, such as `user.v1.UserCreated`. */
  readonly messageType: string;
  /** Encodes and decodes the message (protobuf binary on the wire, proto3 JSON for HTTP). */
  readonly codec: MessageCodec<T>;
  readonly deprecated: boolean;
}

/** The events one proto file declares, keyed by their TypeScript names (`userCreated`). */
export interface EventsDefinition {
  /** A name for logs and the registry, such as `user.v1.UserEvents`. */
  readonly typeName: string;
  /** The proto file that declares the events. */
  readonly file: string;
  /**
   * The declaring file and everything it imports, as a base64
   * `google.protobuf.FileDescriptorSet`: what the gateway checks JSON bodies against.
   */
  readonly fileDescriptorSet: string;
  readonly events: { readonly [localName: string]: EventDefinition };
}

/** What a subscriber's handler learns about one delivery besides the event itself. */
export interface EventContext {
  /** The publisher's message id: what the logs and dead letters name. */
  readonly id: string;
  readonly topic: string;
  /** As published: trace context and the publisher's metadata. */
  readonly headers: Readonly<Record<string, string>>;
  /** 1 on first delivery; higher when the backend redelivers after a handler error. */
  readonly attempt: number;
  /** The service's logger, bound to the topic and the message id. */
  readonly logger: Logger;
}

/** The message type of an event definition. */
export type EventOf<E> = E extends { readonly codec: { decode(input: Uint8Array): infer T } } ? T : never;

/**
 * A subscriber of every event of `E`: one method per event, resolving once
 * handled (ack); throwing asks for redelivery where the backend has it.
 */
export type EventHandlerOf<E extends EventsDefinition> = {
  [K in keyof E["events"]]: (event: EventOf<E["events"][K]>, context: EventContext) => Promise<void>;
};

/** A typed publisher of `E`'s events: `publisher.userCreated({ id: "u1" })` sends on that event's topic. */
export type PublisherOf<E extends EventsDefinition> = {
  [K in keyof E["events"]]: (event: DeepPartial<EventOf<E["events"][K]>>, options?: PublishOptions) => Promise<void>;
};

/** Content types of event bodies: generated publishers send protobuf; the gateway's untyped topics send JSON. */
export const eventContentTypes = { protobuf: "application/protobuf", json: "application/json" } as const;
