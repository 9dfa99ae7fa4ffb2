import { createFileRegistry, fromBinary, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import {
  type ClientTransport,
  createReflectionClient,
  type EventsDefinition,
  type Logger,
  type Registry,
  type Service,
} from "@tsmicro/runtime";

/** A topic whose events have a known message type: bodies published to it are checked and encoded as that message. */
export interface TypedTopic {
  readonly topic: string;
  readonly message: DescMessage;
  /** Resolves `Any` and the fields' message types. */
  readonly registry: FileRegistry;
}

/** What finding typed topics needs. */
export interface EventTopicsOptions {
  /** Generated events definitions: their topics are typed by their embedded descriptors. */
  readonly definitions: readonly EventsDefinition[];
  /** Where services list the events they subscribe to or publish (endpoints whose metadata names a `topic`). */
  readonly registry: Registry;
  /** Asks a node of such a service for the message's descriptors by reflection. */
  readonly transport: ClientTransport;
  readonly logger: Logger;
}

/** How long a topic the registry did not type stays untyped before the registry is read again. */
const untypedForMs = 2_000;

/**
 * The gateway's typed topics: those of the events definitions it was given
 * and, for other topics, those a registered service lists among its
 * endpoints (`metadata.topic`, the message as `request`), with descriptors
 * from that service's server reflection. A topic nobody types is published
 * as raw JSON; that answer is kept for two seconds, so untyped traffic does
 * not read the registry on every request.
 */
export class EventTopics {
  readonly #options: EventTopicsOptions;
  readonly #typed = new Map<string, TypedTopic>();
  readonly #untypedUntil = new Map<string, number>();

  constructor(options: EventTopicsOptions) {
    this.#options = options;
    for (const definition of options.definitions) {
      const registry = createFileRegistry(
        fromBinary(FileDescriptorSetSchema, Buffer.from(definition.fileDescriptorSet, "base64")),
      );
      for (const event of Object.values(definition.events)) {
        const message = registry.getMessage(event.messageType);
        if (message) this.#typed.set(event.topic, { topic: event.topic, message, registry });
      }
    }
  }

  /** The topic's message type, or undefined when no definition and no registered service types it. */
  async lookup(topic: string): Promise<TypedTopic | undefined> {
    const known = this.#typed.get(topic);
    if (known || (this.#untypedUntil.get(topic) ?? 0) > Date.now()) return known;
    const found = await this.#fromRegistry(topic).catch((error: unknown) => {
      this.#options.logger.warn({ err: error, topic }, "cannot read the type of an event topic; publishing it as JSON");
      return undefined;
    });
    if (found) this.#typed.set(topic, found);
    else {
      if (this.#untypedUntil.size >= 10_000) this.#untypedUntil.clear();
      this.#untypedUntil.set(topic, Date.now() + untypedForMs);
    }
    return found;
  }

  async #fromRegistry(topic: string): Promise<TypedTopic | undefined> {
    const { registry, transport } = this.#options;
    const names = [...new Set((await registry.listServices()).map((s) => s.name))];
    for (const name of names) {
      for (const service of await registry.getService(name)) {
        const endpoint = service.endpoints.find((e) => e.metadata.topic === topic && e.request !== "");
        if (!endpoint) continue;
        const descriptors = await descriptorsFrom(service, endpoint.request, (address) =>
          createReflectionClient(transport, address).descriptorsOf(endpoint.request),
        );
        const message = descriptors?.getMessage(endpoint.request);
        if (descriptors && message) return { topic, message, registry: descriptors };
      }
    }
    return undefined;
  }
}

/** Asks the service's gRPC nodes in turn until one answers. */
async function descriptorsFrom(
  service: Service,
  messageType: string,
  ask: (address: string) => Promise<FileRegistry>,
): Promise<FileRegistry | undefined> {
  let lastError: unknown;
  for (const node of service.nodes.filter((n) => (n.metadata.protocol ?? "grpc") === "grpc")) {
    try {
      return await ask(node.address);
    } catch (error) {
      lastError = error;
    }
  }
  if (lastError)
    throw new Error(`no node of ${service.name} told the descriptors of ${messageType}`, { cause: lastError });
  return undefined;
}
