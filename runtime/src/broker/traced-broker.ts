import { randomUUID } from "node:crypto";
import { tracedConsume, tracedPublish } from "../tracing/messaging-span.js";
import type { Tracing } from "../tracing/tracing.js";
import type { Broker, BrokerHandler, PublishOptions, SubscribeOptions } from "./broker.js";

/**
 * `broker` as a service hands it to its code (`service.broker`): the same
 * messages, traced as typed events are. A publish is a PRODUCER span whose
 * `traceparent` goes in the message's headers; a handler runs in a
 * CONSUMER span, its child, so its log lines and the calls it makes carry
 * the publisher's trace, and a failure's line names it.
 */
export function tracedBroker(broker: Broker, tracing: () => Tracing | undefined): Broker {
  return {
    kind: broker.kind,
    start: () => broker.start(),
    stop: () => broker.stop(),
    publish(topic: string, body: Uint8Array, options: PublishOptions = {}) {
      const id = options.id ?? randomUUID();
      return tracedPublish(tracing(), { system: broker.kind, topic, id }, (traceHeaders) =>
        broker.publish(topic, body, { ...options, id, headers: { ...options.headers, ...traceHeaders } }),
      );
    },
    subscribe(topic: string, handler: BrokerHandler, options?: SubscribeOptions) {
      const traced: BrokerHandler = (message) =>
        tracedConsume(
          tracing(),
          { system: broker.kind, topic: message.topic, id: message.id, headers: message.headers },
          async () => handler(message),
        );
      return broker.subscribe(topic, traced, options);
    },
  };
}
