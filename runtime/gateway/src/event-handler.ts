/**
 * `tsmicro api --handler event`, as `micro api --handler=event` had it:
 * `POST /{topic}` publishes the JSON body to the broker and answers 202.
 * A typed topic (see EventTopics) gets its body checked against the
 * event's message by the proto3 JSON mapping and published as protobuf,
 * as a generated publisher would; a body of the wrong shape is a 400 naming
 * the field, and an empty body a 400 saying what the topic takes (`{}`
 * publishes an event of defaults on purpose). Other topics get the JSON as
 * it came, as `application/json`.
 */
import { fromJson, toBinary, type JsonValue } from "@bufbuild/protobuf";
import {
  type Broker,
  type BrokerSettings,
  Code,
  createBroker,
  eventContentTypes,
  type Logger,
  type Registry,
  TsmicroError,
} from "@tsmicro/runtime";
import {
  checkTopic,
  faultPlace,
  jsonFault,
  messageOf,
  tracedPublish,
  type TracingUse,
} from "@tsmicro/runtime/internal";
import type { EventTopics, TypedTopic } from "./event-topics.js";
import type { PublishedEvents } from "./published-events.js";
import { oddNumberString } from "./number-strings.js";

/** What publishing from HTTP needs. */
export interface HttpEventPublisher {
  readonly broker: Broker;
  readonly topics: EventTopics;
  readonly tracing: TracingUse;
  /**
   * Counts the publishes on `/metrics`; undefined with metrics off, and for a broker handed to the
   * gateway, which counts as it was made (`createBroker(settings, { metrics })`), not twice.
   */
  readonly published: PublishedEvents | undefined;
}

/** What the gateway answers a publish with (202). */
export interface Published {
  readonly id: string;
  readonly topic: string;
}

/**
 * The broker `--broker`, `--broker_address` and `--broker_jetstream` name for
 * publishing from HTTP. On JetStream it adds no topics to the stream: a path
 * no subscriber stored is a 404, so requests cannot grow the stream's
 * subjects without bound.
 */
export function createEventBroker(settings: BrokerSettings, registry: Registry, logger: Logger): Broker {
  return createBroker(settings, {
    registry,
    logger,
    name: "api",
    ...(settings.brokerJetstream ? { jetstream: { publishAddsTopics: false } } : {}),
  });
}

/**
 * The topic a request path names: its segments joined by dots, after the
 * gateway's `--namespace` (`/user/created` and `/user.created` are both
 * `user.created`; with `--namespace shop`, `shop.user.created`). A topic no
 * broker may carry (NATS's own `$JS.API.…`, `_INBOX.…`, wildcards) is
 * INVALID_ARGUMENT, a 400, before anything reads the registry or publishes.
 */
export function topicOfPath(path: string, namespace: string): string {
  const segments = path
    .split("/")
    .filter((s) => s !== "")
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  if (segments.length === 0)
    throw new TsmicroError(Code.NOT_FOUND, "the event handler publishes to POST /{topic}; name a topic in the path");
  const topic = [...(namespace === "" ? [] : [namespace]), ...segments].join(".");
  checkTopic(topic, "publish");
  return topic;
}

/** Publishes an HTTP body to `topic`: checked and encoded as protobuf when the topic is typed, raw JSON otherwise. */
export async function publishHttpEvent(
  publisher: HttpEventPublisher,
  topic: string,
  body: unknown,
  headers: Readonly<Record<string, string>>,
): Promise<Published> {
  const typed = await publisher.topics.lookup(topic);
  const { bytes, contentType } = typed ? typedBody(typed, body) : jsonBody(body);
  const id = crypto.randomUUID();
  const { broker } = publisher;
  const publishing = tracedPublish(publisher.tracing.current(), { system: broker.kind, topic, id }, (traceHeaders) =>
    broker.publish(topic, bytes, { id, headers: { ...headers, ...traceHeaders, "content-type": contentType } }),
  );
  await (publisher.published ? publisher.published.count(topic, publishing) : publishing);
  return { id, topic };
}

/** The body as the topic's message, by the proto3 JSON mapping: a wrong type or an unknown field is INVALID_ARGUMENT. */
function typedBody(typed: TypedTopic, body: unknown): { bytes: Uint8Array; contentType: string } {
  const fail = (problem: string): never => {
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      `the body does not fit ${typed.message.typeName}, the event of topic ${typed.topic}: ${problem}`,
    );
  };
  if (body === undefined) throw emptyBody(typed);
  if (typeof body !== "object" || body === null || Array.isArray(body))
    fail(`expected a JSON object, got ${Array.isArray(body) ? "an array" : body === null ? "null" : typeof body}`);
  // As a request's body: a number in a string is a JSON number, as protojson reads it (see oddNumberString).
  const odd = oddNumberString(typed.message, body);
  if (odd) fail(`at ${odd.path} (${JSON.stringify(odd.value)}): ${odd.expected}`);
  let message: ReturnType<typeof fromJson>;
  try {
    message = fromJson(typed.message, body as JsonValue, { registry: typed.registry });
  } catch (error) {
    // Where in the body, and for an unknown key the field meant, as a request's body is told.
    const fault = jsonFault(typed.message, body, typed.registry);
    return fail(fault ? `${faultPlace(fault)}: ${fault.reason}` : messageOf(error));
  }
  return {
    bytes: toBinary(typed.message, message, { writeUnknownFields: false }),
    contentType: eventContentTypes.protobuf,
  };
}

/**
 * An empty (or blank) body for a typed topic. Unlike an RPC route, where the service decides what no
 * fields mean, nothing downstream would refuse it: every subscriber would handle an event of defaults
 * (empty ids, zero amounts), so the client's likely slip is refused, and `{}` says it is meant.
 */
function emptyBody(typed: TypedTopic): TsmicroError {
  const names = typed.message.fields.map((field) => field.jsonName);
  const fields = names.length > 0 ? `its fields are ${names.join(", ")}` : "it has no fields";
  return new TsmicroError(
    Code.INVALID_ARGUMENT,
    `the request body is empty: topic ${typed.topic} takes its event, ${typed.message.typeName}, as a JSON object (${fields}); ` +
      "send {} to publish one with every field at its default",
  );
}

/** An untyped topic's body, published as the JSON it came as. */
function jsonBody(body: unknown): { bytes: Uint8Array; contentType: string } {
  if (body === undefined)
    throw new TsmicroError(Code.INVALID_ARGUMENT, "the event handler publishes the request's JSON body; send one");
  return { bytes: new TextEncoder().encode(JSON.stringify(body)), contentType: eventContentTypes.json };
}
