import type { DescFile, DescMessage, DescService, Registry } from "@bufbuild/protobuf";
import { SetupError } from "@tsmicro/runtime/errors";
import { readEntities, type SqlType, uniqueTexts } from "../entity-definition.js";
import { methodLocalName, refuseSameNames } from "../service-model.js";
import { articleOf, identifierOf, kebabOf, lowerFirst, plural } from "./names.js";

/** One rpc as the scaffolded handler files name it. */
export interface MethodScaffold {
  /** `CreateUser`. */
  readonly name: string;
  /** `createUser`: the member of the generated handler interface. */
  readonly localName: string;
  /** `createUser`: the function its file exports; a reserved word gets a `$` (`rpc Delete`: `delete$`). */
  readonly functionName: string;
  /** `create-user`: its file in `src/handler/<service>/`. */
  readonly fileName: string;
  /** How its stub answers: a promise, or a stream. */
  readonly streamsResponse: boolean;
  /** `user.v1.UserService/CreateUser`. */
  readonly fullName: string;
  /** Set when the rpc is one of the standard methods of an entity in the same file, which are written in full. */
  readonly crud: CrudMethod | undefined;
}

/** A standard method (AIP-131..135) on an entity: the scaffold writes its body, not a stub. */
export interface CrudMethod {
  readonly verb: "create" | "get" | "list" | "update" | "delete";
  readonly entity: EntityScaffold;
  /** The request's field holding the entity (create, update), or the list response's repeated field, in TypeScript. */
  readonly field: string;
}

/** One proto service and its rpcs. */
export interface ServiceScaffold {
  /** `UserService`. */
  readonly name: string;
  /** `user-service`: `src/handler/user-service.ts` and the folder `src/handler/user-service/`. */
  readonly fileName: string;
  /** `createUserServiceHandler`. */
  readonly factoryName: string;
  /** `UserServiceHandler`, `UserServiceDefinition`. */
  readonly handlerType: string;
  readonly definitionName: string;
  /** The generated file to import them from, without extension, relative to `src/gen`: `user/v1/user`. */
  readonly genModule: string;
  readonly methods: readonly MethodScaffold[];
}

/** An entity message (`option (tsmicro.entity)`) and what its domain layers are called. */
export interface EntityScaffold {
  /** `User`. */
  readonly name: string;
  readonly camel: string;
  /** `user`: a variable holding one; a reserved word gets a `$` (`message Package`: `package$`). */
  readonly variable: string;
  /** Its indefinite article, `a` or `an` (`an order`), and the same at a sentence's start (`An`). */
  readonly a: "a" | "an";
  readonly A: "A" | "An";
  /** `Users`, `users`. */
  readonly plural: string;
  readonly camelPlural: string;
  /** `user`: file names (`user-repository.ts`). */
  readonly fileName: string;
  readonly genModule: string;
  /** The table's name. */
  readonly table: string;
  /**
   * The primary key: its TypeScript field, column and type; `zero`, its
   * proto3 default as a TypeScript literal; and for an integer column the
   * values the column holds (decimal), which a page token must stay within.
   */
  readonly key: {
    readonly field: string;
    readonly column: string;
    readonly type: "string" | "number" | "bigint";
    readonly zero: string;
    readonly range: { readonly min: string; readonly max: string } | undefined;
  };
  /** Whether the data service assigns the key (a string key gets a UUID). */
  readonly assignsKey: boolean;
  /** Whether the database numbers the key (an integer key, left at 0 on insert), so a caller's is ignored on create. */
  readonly numbersKey: boolean;
  /**
   * The fields callers never set, which an update mask naming them leaves
   * alone (AIP-134: a read-modify-write sends them back): the key, which
   * names the entity, and the timestamps the data service sets.
   */
  readonly outputOnly: readonly string[];
  /**
   * Text fields with a unique index (not the key): the data service refuses
   * them empty, since only one row could ever hold "" and every later
   * caller who left the field out would collide with it.
   */
  readonly uniqueTexts: readonly { readonly property: string; readonly name: string }[];
  /** `createTime`/`updateTime` when the message has Timestamp fields named so; the data service sets them. */
  readonly createTime: string | undefined;
  readonly updateTime: string | undefined;
  /** Typed errors from a `<Name>ErrorReason` enum in the same file, by the reason a repository reports. */
  readonly errors: {
    readonly container: string | undefined;
    readonly notFound: string | undefined;
    readonly alreadyExists: string | undefined;
    readonly invalid: string | undefined;
    /** A broken reference between rows (a foreign key): the reason ending in `_FAILED_PRECONDITION`. */
    readonly failedPrecondition: string | undefined;
  };
  /** What the handler throws for each domain error: a typed error when the proto has the reason, else a plain status. */
  readonly errorExpressions: {
    readonly notFound: string;
    readonly alreadyExists: string;
    readonly invalid: string;
    readonly reference: string;
  };
  /** Some domain error has no typed reason, so the handler needs the runtime's plain error. */
  readonly plainErrors: boolean;
}

/** A service of another project in the workspace, which this one's handlers call through its typed client. */
export interface ClientScaffold {
  /** `userService`: its field in the handlers' Dependencies. */
  readonly field: string;
  /** `UserServiceClient`, `UserServiceDefinition`. */
  readonly clientType: string;
  readonly definitionName: string;
  readonly genModule: string;
  /** The name it registers under, which the client looks up. */
  readonly registeredName: string;
}

/** A registered service the project calls, stood in for in its tests by a node serving only what they give it. */
export interface StandInScaffold {
  /** `userServiceStandIn`: the test's variable. */
  readonly variable: string;
  readonly registeredName: string;
  /** The definitions it serves: every proto service registered under the name. */
  readonly definitionNames: readonly string[];
}

/** Everything in a project's protos that the scaffold writes user code for. */
export interface SourceModel {
  readonly services: readonly ServiceScaffold[];
  readonly entities: readonly EntityScaffold[];
  /** Services of the workspace's other projects the handlers call (API services only). */
  readonly clients: readonly ClientScaffold[];
  /** The clients by registered name, one stand-in node each. */
  readonly standIns: readonly StandInScaffold[];
}

/**
 * Reads the project's own proto files (not their imports) for services and
 * entities; `called` are other projects' files whose services it calls,
 * with the name each registers under.
 */
export function buildSourceModel(
  files: readonly DescFile[],
  registry: Registry,
  called: readonly { readonly file: DescFile; readonly registeredName: string }[] = [],
): SourceModel {
  refuseShared(
    files.flatMap((file) => file.services),
    (service) => `src/handler/${kebabOf(service.name)}.ts`,
    "give one a name of its own in its proto (UserServiceV2), or serve it from a project of its own",
  );
  refuseShared(
    files.flatMap((file) => readEntities(file, registry).map((entity) => entity.message)),
    (message) => `src/domain/model/${kebabOf(message.name)}.ts`,
    "give one entity a name of its own, or keep it in a project of its own",
  );
  const entities = files.flatMap((file) => entitiesOf(file, registry));
  const services = files.flatMap((file) => file.services.map((service) => serviceScaffold(service, file, entities)));
  const clients = called.flatMap(({ file, registeredName }) =>
    file.services.map((service) => clientScaffold({ name: service.name, genModule: genModule(file) }, registeredName)),
  );
  return { services, entities, clients, standIns: standInsOf(clients) };
}

/**
 * Refuses two services (or entities) of different packages whose scaffolded files would be the
 * same (`user.v1.UserService` and `user.v2.UserService`): one's handler would take the other's
 * place, and its rpcs' files would read as orphans.
 */
function refuseShared<T extends { readonly typeName: string; readonly kind: string }>(
  items: readonly T[],
  fileOf: (item: T) => string,
  remedy: string,
): void {
  const seen = new Map<string, T>();
  for (const item of items) {
    const file = fileOf(item);
    const other = seen.get(file);
    const what = item.kind === "service" ? "service" : "entity";
    if (other) throw new SetupError("TSM_ERR_SCAFFOLD_NAME", what, other.typeName, item.typeName, file, remedy);
    seen.set(file, item);
  }
}

/** How a project calls `service` (a proto service of `genModule`), registered as `registeredName`. */
export function clientScaffold(
  service: { readonly name: string; readonly genModule: string },
  registeredName: string,
): ClientScaffold {
  return {
    field: lowerFirst(service.name),
    clientType: `${service.name}Client`,
    definitionName: `${service.name}Definition`,
    genModule: service.genModule,
    registeredName,
  };
}

function standInsOf(clients: readonly ClientScaffold[]): StandInScaffold[] {
  const byName = new Map<string, ClientScaffold[]>();
  for (const client of clients) {
    const group = byName.get(client.registeredName);
    if (group) group.push(client);
    else byName.set(client.registeredName, [client]);
  }
  return [...byName].map(([registeredName, served]) => ({
    variable: `${served[0]!.field}StandIn`,
    registeredName,
    definitionNames: served.map((client) => client.definitionName),
  }));
}

function genModule(file: DescFile): string {
  return file.name;
}

/** The values an integer key's column holds, by its SQL type (a uint64 is numeric(20,0)). */
const integerRanges: Partial<Record<SqlType, { min: string; max: string }>> = {
  integer: { min: "-2147483648", max: "2147483647" },
  bigint: { min: "-9223372036854775808", max: "9223372036854775807" },
  "numeric(20,0)": { min: "0", max: "18446744073709551615" },
};

/** The file's entities as the entity generator reads them (table, key), with what the domain layers call them. */
function entitiesOf(file: DescFile, registry: Registry): EntityScaffold[] {
  const errorEnums = new Map(file.enums.map((e) => [e.name, e]));
  const result: EntityScaffold[] = [];
  for (const { message, table, columns, primaryKey } of readEntities(file, registry)) {
    const keyType =
      primaryKey.propertyType === "string" || primaryKey.propertyType === "bigint" ? primaryKey.propertyType : "number";
    const timestamp = (name: string) =>
      message.fields.find(
        (f) => f.name === name && f.fieldKind === "message" && f.message.typeName === "google.protobuf.Timestamp",
      )?.localName;
    const reasons = errorEnums.get(`${message.name}ErrorReason`);
    const reason = (suffix: string) => {
      const value = reasons?.values.find((v) => v.name.endsWith(`_${suffix}`));
      return value ? lowerFirst(camelOf(value.name.toLowerCase())) : undefined;
    };
    const camel = lowerFirst(message.name);
    const container = reasons ? `${message.name}Errors` : undefined;
    const typed = (factory: string | undefined, args: string, code: string) =>
      factory ? `${container}.${factory}(${args})` : `new TsmicroError(Code.${code}, error.message)`;
    const errors = {
      container,
      notFound: reason("NOT_FOUND"),
      alreadyExists: reason("ALREADY_EXISTS"),
      invalid: reason("INVALID"),
      failedPrecondition: reason("FAILED_PRECONDITION"),
    };
    result.push({
      name: message.name,
      camel,
      variable: identifierOf(camel),
      ...articles(message.name),
      plural: plural(message.name),
      camelPlural: lowerFirst(plural(message.name)),
      fileName: kebabOf(message.name),
      genModule: genModule(file),
      table,
      key: {
        field: primaryKey.property,
        column: primaryKey.name,
        type: keyType,
        zero: keyType === "bigint" ? "0n" : keyType === "string" ? (primaryKey.identity ? '"0"' : '""') : "0",
        range: integerRanges[primaryKey.sqlType],
      },
      assignsKey: keyType === "string" && !primaryKey.identity,
      numbersKey: primaryKey.identity,
      outputOnly: [primaryKey.property, timestamp("create_time"), timestamp("update_time")].filter(
        (f): f is string => f !== undefined,
      ),
      uniqueTexts: uniqueTexts(columns),
      createTime: timestamp("create_time"),
      updateTime: timestamp("update_time"),
      errors,
      errorExpressions: {
        notFound: typed(errors.notFound, "error.message", "NOT_FOUND"),
        alreadyExists: typed(errors.alreadyExists, "error.message", "ALREADY_EXISTS"),
        invalid: typed(errors.invalid, "error.message, { field: error.field }", "INVALID_ARGUMENT"),
        reference: typed(errors.failedPrecondition, "error.message, { field: error.field }", "FAILED_PRECONDITION"),
      },
      plainErrors: !errors.notFound || !errors.alreadyExists || !errors.invalid || !errors.failedPrecondition,
    });
  }
  return result;
}

function serviceScaffold(service: DescService, file: DescFile, entities: readonly EntityScaffold[]): ServiceScaffold {
  const fileName = kebabOf(service.name);
  refuseSameNames(service, file.proto.name, kebabOf, (name) => `the handler file src/handler/${fileName}/${name}.ts`);
  return {
    name: service.name,
    fileName,
    factoryName: `create${service.name}Handler`,
    handlerType: `${service.name}Handler`,
    definitionName: `${service.name}Definition`,
    genModule: genModule(file),
    methods: service.methods.map((method) => ({
      name: method.name,
      localName: methodLocalName(method.name),
      functionName: identifierOf(methodLocalName(method.name)),
      fileName: kebabOf(method.name),
      streamsResponse: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      fullName: `${service.typeName}/${method.name}`,
      crud:
        method.methodKind === "unary"
          ? crudOf(
              method.name,
              method.input,
              method.output,
              entities.filter((e) => e.genModule === file.name),
            )
          : undefined,
    })),
  };
}

/**
 * Recognises the standard methods exactly as the sample proto spells them
 * (AIP-131..135), so their bodies can be written; anything else is a stub.
 */
function crudOf(
  name: string,
  input: DescMessage,
  output: DescMessage,
  entities: readonly EntityScaffold[],
): CrudMethod | undefined {
  for (const entity of entities) {
    const fieldOf = (message: DescMessage, typeName: string, repeated: boolean) =>
      message.fields.find(
        (f) =>
          (repeated ? f.fieldKind === "list" && f.listKind === "message" : f.fieldKind === "message") &&
          f.message?.name === typeName,
      )?.localName;
    const hasKey = (message: DescMessage) => message.fields.some((f) => f.localName === entity.key.field);
    const entityField = fieldOf(input, entity.name, false);
    switch (name) {
      case `Create${entity.name}`:
        if (entityField && output.name === entity.name) return { verb: "create", entity, field: entityField };
        break;
      case `Get${entity.name}`:
        if (hasKey(input) && output.name === entity.name) return { verb: "get", entity, field: "" };
        break;
      case `List${entity.plural}`: {
        const listField = fieldOf(output, entity.name, true);
        const paged = ["pageSize", "pageToken"].every((f) => input.fields.some((x) => x.localName === f));
        if (listField && paged && output.fields.some((f) => f.localName === "nextPageToken"))
          return { verb: "list", entity, field: listField };
        break;
      }
      case `Update${entity.name}`:
        if (entityField && input.fields.some((f) => f.localName === "updateMask") && output.name === entity.name)
          return { verb: "update", entity, field: entityField };
        break;
      case `Delete${entity.name}`:
        if (hasKey(input) && output.typeName === "google.protobuf.Empty") return { verb: "delete", entity, field: "" };
        break;
    }
  }
  return undefined;
}

function camelOf(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `a`/`an` before a noun, in lower case and at a sentence's start. */
export function articles(noun: string): { a: "a" | "an"; A: "A" | "An" } {
  const a = articleOf(noun);
  return { a, A: a === "a" ? "A" : "An" };
}
