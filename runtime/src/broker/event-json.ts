/**
 * Strict proto3 JSON for event bodies, as the gateway reads a request: protobuf-es's `fromJson`
 * against the events definition's own descriptors, so a wrong type, an unknown field or an
 * out-of-range number is refused rather than coerced (ts-proto's `fromJSON` turns `{"a":1}` into
 * the string "[object Object]"). Loaded only when a subscriber first gets a JSON body.
 */
import { createFileRegistry, fromBinary, fromJson, type JsonValue, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { EventDefinition } from "../definition/events.js";
import { parseExactJson } from "../definition/exact-json.js";
import { faultPlace, jsonFault } from "../definition/json-fault.js";
import { jsonMistake } from "../definition/json-mistake.js";
import { messageOf } from "../transport/call-errors.js";

/**
 * A reader of `event`'s JSON bodies: the text as proto3 JSON of the event's message, as the
 * generated type; throws an Error saying where the body does not fit (`at id ({"a":1}): …`).
 * `fileDescriptorSet` is the events definition's (base64), which holds the message.
 */
export function eventJsonReader<T>(event: EventDefinition<T>, fileDescriptorSet: string): (text: string) => T {
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(fileDescriptorSet, "base64")));
  const desc = registry.getMessage(event.messageType);
  if (!desc) throw new Error(`the events definition's descriptors lack ${event.messageType}: regenerate the code`);
  return (text) => {
    let json: unknown;
    try {
      json = parseExactJson(text);
    } catch (error) {
      const { line, column, reason } = jsonMistake(text, "the body", error);
      throw new Error(`the body is not JSON at line ${line}, column ${column}: ${reason}`);
    }
    let message: ReturnType<typeof fromJson>;
    try {
      message = fromJson(desc, json as JsonValue, { registry });
    } catch (error) {
      const fault = jsonFault(desc, json, registry);
      throw new Error(fault ? `${faultPlace(fault)}: ${fault.reason}` : messageOf(error));
    }
    // Through the binary form, so the handler gets the generated type exactly as from a protobuf body.
    return event.codec.decode(toBinary(desc, message));
  };
}
