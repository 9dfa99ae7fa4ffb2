import { posix } from "node:path";
import { getExtension, hasExtension, type DescFile, type DescMessage, type Registry } from "@bufbuild/protobuf";
import { SetupError } from "@tsmicro/runtime/errors";
import { docLines, type CommentIndex } from "./doc-comment.js";
import { methodLocalName } from "./service-model.js";

/** The events of one file, as the `micro.ts` template prints them. */
export interface EventsModel {
  readonly doc: readonly string[];
  /** `UserEvents` for `user.proto`. */
  readonly containerName: string;
  /** `UserEventsHandler`. */
  readonly handlerName: string;
  readonly typeNameLiteral: string;
  readonly fileLiteral: string;
  readonly events: readonly EventModel[];
}

/** One event: a message marked `(tsmicro.event)`. */
export interface EventModel {
  readonly doc: readonly string[];
  /** `userCreated` for `UserCreated`. */
  readonly localName: string;
  /** The name as an interface member: `new` is quoted, or it would declare a construct signature. */
  readonly memberName: string;
  readonly topicLiteral: string;
  readonly messageTypeLiteral: string;
  /** The ts-proto message, as the generated file imports it: both the codec and the type. */
  readonly message: string;
  readonly deprecated: boolean;
}

/** A message marked as an event, before its names are chosen. */
export interface EventMessage {
  readonly message: DescMessage;
  readonly topic: string;
  /** Its source-info path, for its leading comment. */
  readonly path: string;
}

/** `EventOptions` from proto/tsmicro/event.proto, as protobuf-es reads it. */
interface EventOptions {
  readonly topic: string;
}

/**
 * The messages of a file marked `option (tsmicro.event)`, nested ones
 * included (see proto/tsmicro/event.proto), each with its topic: the
 * option's, or the message's full name. Throws a SetupError (TSM_ERR_EVENT)
 * naming the message and the file for a topic no broker can carry or one
 * that two events share.
 */
export function readEvents(file: DescFile, registry: Registry): EventMessage[] {
  const eventExt = registry.getExtension("tsmicro.event");
  if (!eventExt) return [];
  const found: EventMessage[] = [];
  const visit = (messages: readonly DescMessage[], parentPath: string): void => {
    for (const [i, message] of messages.entries()) {
      const path = `${parentPath}${i}`;
      const options = message.proto.options;
      if (options && hasExtension(options, eventExt)) {
        const { topic } = getExtension(options, eventExt) as unknown as EventOptions;
        found.push({ message, topic: topic || message.typeName, path });
      }
      visit(message.nestedMessages, `${path},3,`);
    }
  };
  visit(file.messages, "4,");
  for (const [i, event] of found.entries()) {
    const fail = (problem: string): never => {
      throw new SetupError("TSM_ERR_EVENT", event.message.typeName, file.proto.name, problem);
    };
    const problem = topicProblem(event.topic);
    if (problem) fail(`its topic ${JSON.stringify(event.topic)} is not usable: ${problem}`);
    const other = found.slice(0, i).find((e) => e.topic === event.topic);
    if (other)
      fail(`its topic "${event.topic}" is also the topic of ${other.message.typeName}; give each event its own topic`);
    const sameName = found
      .slice(0, i)
      .find((e) => methodLocalName(e.message.name) === methodLocalName(event.message.name));
    if (sameName) fail(`it has the same name as ${sameName.message.typeName}; rename one of them`);
  }
  return found;
}

/** What the broker refuses in a topic (see topicProblem in runtime/src/broker/broker-checks.ts), so the mistake shows at generation. */
function topicProblem(topic: string): string | undefined {
  if (/\s/.test(topic)) return "it contains whitespace";
  if (/(^|\.)[*>](\.|$)/.test(topic)) return "wildcards (* and >) are not supported";
  if (topic.startsWith(".") || topic.endsWith(".") || topic.includes(".."))
    return "it has an empty segment between dots";
  const first = topic.split(".", 1)[0]!;
  if (topic.startsWith("$") || ["_INBOX", "_R_", "_GR_"].includes(first))
    return (
      `NATS reserves ${topic.startsWith("$") ? '"$…"' : `"${first}.…"`} subjects for itself ` +
      "($JS: the JetStream API, $SYS: system requests, $KV, $O; _INBOX, _R_, _GR_: replies); " +
      "name the topic after your domain, such as user.created"
    );
  return undefined;
}

/**
 * The events model of a file: `UserEvents` and `UserEventsHandler` for
 * `user.proto` (named after the file, since a file holds one set of
 * events); `message` imports a ts-proto message and returns its identifier.
 */
export function buildEventsModel(
  file: DescFile,
  found: readonly EventMessage[],
  comments: CommentIndex,
  message: (typeName: string) => string,
): EventsModel | undefined {
  if (found.length === 0) return undefined;
  const names = eventsNames(file);
  return {
    doc: [`The events of ${file.proto.name}: each message marked \`option (tsmicro.event)\`, with its topic.`],
    ...names,
    typeNameLiteral: JSON.stringify(
      file.proto.package ? `${file.proto.package}.${names.containerName}` : names.containerName,
    ),
    fileLiteral: JSON.stringify(file.proto.name),
    events: found.map((event) => {
      const localName = methodLocalName(event.message.name);
      return {
        doc: docLines(comments.get(event.path), event.message.deprecated),
        localName,
        memberName: localName === "new" ? '"new"' : localName,
        topicLiteral: JSON.stringify(event.topic),
        messageTypeLiteral: JSON.stringify(event.message.typeName),
        message: message(event.message.typeName),
        deprecated: event.message.deprecated,
      };
    }),
  };
}

/** `UserEvents` and `UserEventsHandler` for `user.proto`, `user_service.proto` -> `UserServiceEvents`, `user_events.proto` -> `UserEvents`. */
export function eventsNames(file: DescFile): { containerName: string; handlerName: string } {
  const base = posix
    .basename(file.proto.name, ".proto")
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("")
    .replace(/Events$/, "");
  const containerName = `${/^[0-9]/.test(base) ? "_" : ""}${base}Events`;
  return { containerName, handlerName: `${containerName}Handler` };
}
