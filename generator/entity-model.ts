import { posix } from "node:path";
import { type DescFile, ScalarType } from "@bufbuild/protobuf";
import { SetupError } from "@tsmicro/runtime/errors";
import { type EntityColumn, type EntityDefinition, type SqlType, uniqueTexts } from "./entity-definition.js";
import { ImportCollector, type ImportStatement } from "./import-collector.js";
import type { FieldBehaviorLookup } from "./field-behavior.js";
import type { TsProtoSymbol } from "./ts-proto.js";

/** Everything the `entity.ts` template prints for one proto file. */
export interface EntityFileModel {
  readonly header: string;
  readonly imports: readonly ImportStatement[];
  readonly entities: readonly EntityModel[];
  /** `UserDatabase` for `user.proto`: the file's tables, to parametrise `Kysely<…>`. */
  readonly databaseName: string;
  /** `user: UserTable` per entity. */
  readonly databaseMembers: readonly string[];
  readonly protoFile: string;
  /** Identifiers of the `kysely` types as the file spells them. */
  readonly kysely: { readonly insertable: string; readonly selectable: string };
}

/** One entity with the names and code lines of everything generated for it. */
export interface EntityModel {
  /** The message's TypeScript name as imported (`User`). */
  readonly message: string;
  readonly messageTypeName: string;
  readonly tableName: string;
  readonly tableLiteral: string;
  readonly primaryKeyLiteral: string;
  /** `UserTable`, `UserRow`, `userToRow`, `userFromRow`, `userColumns`, `userPrimaryKey`, `userTableName`. */
  readonly names: EntityNames;
  /** `name: type` members of the table interface. */
  readonly tableMembers: readonly string[];
  /** Whether toRow needs the message's proto3 JSON (jsonb columns). */
  readonly toRowUsesJson: boolean;
  /** Properties of the object toRow returns. */
  readonly toRowEntries: readonly string[];
  /** `User.fromJSON({ … })` of the jsonb columns, spread first in fromRow; undefined without jsonb columns. */
  readonly fromRowBase: string | undefined;
  /** Properties of the message fromRow returns. */
  readonly fromRowEntries: readonly string[];
  /** `key: "column"` entries of the column map. */
  readonly columnEntries: readonly string[];
  /** Whether the primary key is numbered by the database, for the doc comment. */
  readonly identity: boolean;
  /** The properties of the fields `google.api.field_behavior` marks OUTPUT_ONLY, as a literal. */
  readonly outputOnlyLiteral: string;
  /** The unique text fields a data service refuses blank (see uniqueTexts), as a literal. */
  readonly uniqueTextsLiteral: string;
}

/** Names generated for one entity. */
export interface EntityNames {
  readonly table: string;
  readonly row: string;
  readonly toRow: string;
  readonly fromRow: string;
  readonly columns: string;
  readonly primaryKey: string;
  readonly tableName: string;
  readonly outputOnly: string;
  readonly uniqueTexts: string;
}

/** What building a file's entity model needs besides the entities. */
export interface EntityModelContext {
  readonly symbols: ReadonlyMap<string, TsProtoSymbol>;
  readonly header: string;
  /** Each field's `google.api.field_behavior`. */
  readonly behavior: FieldBehaviorLookup;
}

/** Globals the generated code uses; an imported message must not shadow them. */
const usedGlobals = ["JSON", "BigInt", "Number", "String", "Record", "Date", "Uint8Array", "Buffer", "Object", "Map"];

/** The names generated for entity message `User` (ts-proto's name, so nested `Outer_Inner` stays unique). */
export function entityNames(tsName: string): EntityNames {
  const lower = tsName.charAt(0).toLowerCase() + tsName.slice(1);
  return {
    table: `${tsName}Table`,
    row: `${tsName}Row`,
    toRow: `${lower}ToRow`,
    fromRow: `${lower}FromRow`,
    columns: `${lower}Columns`,
    primaryKey: `${lower}PrimaryKey`,
    tableName: `${lower}TableName`,
    outputOnly: `${lower}OutputOnly`,
    uniqueTexts: `${lower}UniqueTexts`,
  };
}

/** `user/v1/user_store.proto` -> `UserStoreDatabase`. */
export function databaseName(protoFile: string): string {
  const base = posix.basename(protoFile).replace(/\.proto$/, "");
  const pascal = base
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
  return `${/^[0-9]/.test(pascal) ? "_" : ""}${pascal}Database`;
}

/**
 * The type each column has in rows tsmicro's database returns
 * (`@tsmicro/runtime/database` reads int8 as bigint, bytea as Uint8Array,
 * numeric as a string, timestamptz as Date and jsonb parsed).
 */
const selectTypes: Record<SqlType, string> = {
  text: "string",
  boolean: "boolean",
  integer: "number",
  bigint: "bigint",
  "numeric(20,0)": "string",
  real: "number",
  "double precision": "number",
  bytea: "Uint8Array",
  timestamptz: "Date",
  jsonb: "unknown",
};

/** Prepares the `entity.ts` model of a file that declares entity messages. */
export function buildEntityFileModel(
  file: DescFile,
  entities: readonly EntityDefinition[],
  ctx: EntityModelContext,
): EntityFileModel {
  const tsName = (typeName: string): TsProtoSymbol => {
    const symbol = ctx.symbols.get(typeName);
    if (!symbol) throw new Error(`ts-proto produced no symbol for ${typeName}`);
    return symbol;
  };
  const dbName = databaseName(file.proto.name);
  // Which entity (or the file, for its database type) generates each exported name.
  const owners = new Map<string, string>([[dbName, `the tables of ${file.proto.name}`]]);
  for (const entity of entities) {
    for (const name of Object.values(entityNames(tsName(entity.message.typeName).name))) {
      const owner = owners.get(name);
      if (owner !== undefined)
        throw new SetupError(
          "TSM_ERR_ENTITY",
          entity.message.typeName,
          file.proto.name,
          `its generated ${name} is also the name of ${owner}; rename the message`,
        );
      owners.set(name, entity.message.typeName);
    }
  }
  const exported = [...owners.keys()];
  const imports = new ImportCollector([...exported, ...usedGlobals]);
  const fromDir = posix.dirname(file.proto.name);
  /** `name` (the type's own by default) from the ts-proto module of `typeName`, as this file spells it. */
  const fromModuleOf = (typeName: string, name: string | undefined, typeOnly: boolean): string => {
    const symbol = tsName(typeName);
    let from = posix.relative(fromDir, symbol.module);
    if (!from.startsWith(".")) from = `./${from}`;
    return imports.use(`${from}.js`, name ?? symbol.name, typeOnly);
  };
  const protoImport = (typeName: string, typeOnly: boolean): string => fromModuleOf(typeName, undefined, typeOnly);
  const kysely = (name: string): string => imports.use("kysely", name, true);
  // ts-proto's `colorFromJSON` beside enum `Color`.
  const enumFromJson = (typeName: string): string => {
    const { name } = tsName(typeName);
    return fromModuleOf(typeName, `${name.charAt(0).toLowerCase()}${name.slice(1)}FromJSON`, false);
  };

  const kyselyNames = { insertable: kysely("Insertable"), selectable: kysely("Selectable") };
  const models = entities.map((entity) =>
    buildEntity(entity, tsName, { protoImport, enumFromJson }, kysely, ctx.behavior),
  );
  return {
    header: ctx.header,
    imports: imports.statements(),
    entities: models,
    databaseName: dbName,
    databaseMembers: models.map((m) => `${propertyKey(m.tableName)}: ${m.names.table}`),
    protoFile: file.proto.name,
    kysely: kyselyNames,
  };
}

/** How the entity file spells what it imports from ts-proto's modules. */
interface ProtoImports {
  readonly protoImport: (typeName: string, typeOnly: boolean) => string;
  readonly enumFromJson: (typeName: string) => string;
}

function buildEntity(
  entity: EntityDefinition,
  tsName: (typeName: string) => TsProtoSymbol,
  { protoImport, enumFromJson }: ProtoImports,
  kysely: (name: string) => string,
  behavior: FieldBehaviorLookup,
): EntityModel {
  const columns = entity.columns;
  const usesJson = columns.some((c) => c.propertyType === "json" && ownJson(c)?.toRow === undefined);
  const message = protoImport(entity.message.typeName, !columns.some((c) => c.propertyType === "json"));
  const names = entityNames(tsName(entity.message.typeName).name);

  const tableMembers = columns.map((c) => `${propertyKey(c.name)}: ${columnType(c, protoImport, kysely)}`);

  const toRowEntries = columns.map((c) => {
    const key = propertyKey(c.name);
    if (c.identity) {
      const zero = c.propertyType === "bigint" ? "0n" : c.propertyType === "string" ? '"0"' : "0";
      return `...(message.${c.property} === ${zero} ? {} : { ${key}: message.${c.property} })`;
    }
    const toRow = ownJson(c)?.toRow;
    if (toRow) return `${key}: ${toRow(`message${accessor(c.property)}`)}`;
    if (c.propertyType === "json") {
      // Bracketed: `json` is a Record, and a project under noPropertyAccessFromIndexSignature refuses `json.tags`.
      const json = `json[${JSON.stringify(c.field.jsonName)}]`;
      if (c.nullable) return `${key}: ${json} === undefined ? null : JSON.stringify(${json})`;
      return `${key}: JSON.stringify(${json} ?? ${c.field.fieldKind === "map" ? "{}" : "[]"})`;
    }
    if (c.oneof) {
      const oneof = `message.${c.oneof.property}`;
      return `${key}: ${oneof}?.$case === ${JSON.stringify(c.oneof.case)} ? ${oneof}.value : null`;
    }
    return `${key}: message.${c.property}${c.nullable ? " ?? null" : ""}`;
  });

  const jsonColumns = columns.filter((c) => c.propertyType === "json" && !c.oneof && ownJson(c) === undefined);
  const fromRowBase =
    jsonColumns.length > 0
      ? `${message}.fromJSON({ ${jsonColumns.map((c) => `${propertyKey(c.field.jsonName)}: row${accessor(c.name)}`).join(", ")} })`
      : undefined;
  const fromRowEntries: string[] = [];
  const oneofsDone = new Set<string>();
  for (const c of columns) {
    if (c.oneof) {
      if (oneofsDone.has(c.oneof.property)) continue;
      oneofsDone.add(c.oneof.property);
      const property = c.oneof.property;
      const members = columns.filter((m) => m.oneof?.property === property);
      const union = members
        .map((m) => {
          const cell = `row${accessor(m.name)}`;
          const value =
            m.propertyType === "json"
              ? `${protoImport(m.field.message!.typeName, false)}.fromJSON(${cell})`
              : fromCell(m, cell);
          return `${cell} !== null ? { $case: ${JSON.stringify(m.oneof!.case)}, value: ${value} } : `;
        })
        .join("");
      fromRowEntries.push(`${property}: ${union}undefined`);
      continue;
    }
    const own = ownJson(c);
    if (own) {
      fromRowEntries.push(`${c.property}: ${own.fromRow(`row${accessor(c.name)}`, message, enumFromJson)}`);
      continue;
    }
    if (c.propertyType === "json") continue;
    const cell = `row${accessor(c.name)}`;
    const converted = fromCell(c, cell);
    if (!c.nullable) fromRowEntries.push(`${c.property}: ${converted}`);
    else if (converted === cell) fromRowEntries.push(`${c.property}: ${cell} ?? undefined`);
    else fromRowEntries.push(`${c.property}: ${cell} === null ? undefined : ${converted}`);
  }

  const columnEntries: string[] = [];
  for (const c of columns) {
    const keys = new Set([c.field.name, c.field.jsonName]);
    for (const key of keys) columnEntries.push(`${propertyKey(key)}: ${JSON.stringify(c.name)}`);
  }

  return {
    message,
    messageTypeName: entity.message.typeName,
    tableName: entity.table,
    tableLiteral: JSON.stringify(entity.table),
    primaryKeyLiteral: JSON.stringify(entity.primaryKey.name),
    names,
    tableMembers,
    toRowUsesJson: usesJson,
    toRowEntries,
    fromRowBase,
    fromRowEntries,
    columnEntries,
    identity: entity.primaryKey.identity,
    outputOnlyLiteral: JSON.stringify(columns.filter((c) => behavior(c.field).outputOnly).map((c) => c.property)),
    uniqueTextsLiteral: `[${uniqueTexts(columns)
      .map(({ property, name }) => `{ property: ${JSON.stringify(property)}, name: ${JSON.stringify(name)} }`)
      .join(", ")}]`,
  };
}

/** A jsonb column written and read by code of its own rather than ts-proto's toJSON and fromJSON. */
interface OwnJson {
  /** The column's value to insert, from the message property `property`; undefined where ts-proto's toJSON serves. */
  readonly toRow: ((property: string) => string) | undefined;
  /** The property's value, from the row's cell. */
  fromRow(cell: string, message: string, enumFromJson: (typeName: string) => string): string;
}

/**
 * The jsonb columns ts-proto's JSON does not round-trip, with their own code; undefined for the
 * rest. Enums in repeated fields and map values are stored as numbers, as enum columns are: a
 * renamed value keeps its rows, and a value this code does not know (from a newer proto) is kept
 * (ts-proto reads both as UNRECOGNIZED, -1); names written before are still read. A map with bool
 * keys is read with `false` as false (ts-proto's fromJSON makes every key true), and a BytesValue
 * is stored as base64 (ts-proto's toJSON gives the bytes themselves, which JSON.stringify makes
 * an object that reads back empty).
 */
function ownJson(c: EntityColumn): OwnJson | undefined {
  const field = c.field;
  if (c.propertyType !== "json" || c.oneof) return undefined;
  if (field.fieldKind === "list" && field.listKind === "enum") {
    const typeName = field.enum.typeName;
    return {
      toRow: (property) => `JSON.stringify(${property})`,
      fromRow: (cell, _message, enumFromJson) =>
        `(${cell} as unknown[]).map((v) => (typeof v === "number" ? v : ${enumFromJson(typeName)}(v)))`,
    };
  }
  if (field.fieldKind === "map" && (field.mapKind === "enum" || field.mapKey === ScalarType.BOOL)) {
    const keyed = mapKeyType(field.mapKey);
    const key = (k: string) =>
      keyed === "object" ? k : field.mapKey === ScalarType.BOOL ? `${k} === "true"` : `BigInt(${k})`;
    const enumValues = field.mapKind === "enum";
    return {
      toRow: !enumValues
        ? undefined
        : keyed === "object"
          ? (property) => `JSON.stringify(${property})`
          : (property) => `JSON.stringify(Object.fromEntries([...${property}].map(([k, v]) => [String(k), v])))`,
      fromRow: (cell, message, enumFromJson) => {
        const value = enumValues
          ? `typeof v === "number" ? v : ${enumFromJson(field.enum.typeName)}(v)`
          : `${message}.fromJSON({ ${propertyKey(field.jsonName)}: { true: v } })${accessor(c.property)}.get(true)!`;
        const pairs = `Object.entries(${cell} as Record<string, unknown>).map(([k, v]) => [${key("k")}, ${value}] as const)`;
        return keyed === "object" ? `Object.fromEntries(${pairs})` : `new Map(${pairs})`;
      },
    };
  }
  if (field.fieldKind === "message" && field.message.typeName === "google.protobuf.BytesValue") {
    return {
      toRow: (property) =>
        `${property} === undefined ? null : JSON.stringify(Buffer.from(${property}).toString("base64"))`,
      fromRow: (cell) => `${cell} === null ? undefined : new Uint8Array(Buffer.from(${cell} as string, "base64"))`,
    };
  }
  return undefined;
}

/**
 * How ts-proto holds a map of this key type: an object for string and 32-bit integer keys, a Map
 * for the rest (bool, and 64-bit integers as bigint).
 */
function mapKeyType(key: ScalarType): "object" | "map" {
  switch (key) {
    case ScalarType.BOOL:
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return "map";
    default:
      return "object";
  }
}

/** The TypeScript type of a property in the message (ts-proto's), as a column insert type. */
function propertyTsType(c: EntityColumn, protoImport: (typeName: string, typeOnly: boolean) => string): string {
  switch (c.propertyType) {
    case "enum":
      return protoImport(c.field.enum!.typeName, true);
    case "json":
      // Written as JSON text: node-postgres would send a JavaScript array as a Postgres array, not JSON.
      return "string";
    default:
      return c.propertyType;
  }
}

/** The column's member type in the Kysely table interface. */
function columnType(
  c: EntityColumn,
  protoImport: (typeName: string, typeOnly: boolean) => string,
  kysely: (name: string) => string,
): string {
  const insert = propertyTsType(c, protoImport);
  const select = c.propertyType === "enum" ? insert : selectTypes[c.sqlType];
  if (c.identity) {
    return select === insert
      ? `${kysely("Generated")}<${select}>`
      : `${kysely("ColumnType")}<${select}, ${insert} | undefined, ${insert}>`;
  }
  const orNull = (type: string) => (c.nullable && type !== "unknown" ? `${type} | null` : type);
  if (select === insert) return orNull(select);
  return `${kysely("ColumnType")}<${orNull(select)}, ${orNull(insert)}, ${orNull(insert)}>`;
}

/** A non-null cell's value as the message property wants it. */
function fromCell(c: EntityColumn, cell: string): string {
  const select = c.propertyType === "enum" ? "enum" : selectTypes[c.sqlType];
  if (select === c.propertyType || c.propertyType === "enum") return cell;
  switch (c.propertyType) {
    case "bigint":
      return `BigInt(${cell})`;
    case "number":
      return `Number(${cell})`;
    case "string":
      return `String(${cell})`;
    default:
      return cell;
  }
}

/** `.name`, or `["na-me"]` when the key is not an identifier. */
function accessor(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** An object literal or interface key, quoted when it must be. */
function propertyKey(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
}
