import { ScalarType, type DescEnum, type DescField, type DescMessage } from "@bufbuild/protobuf";
import type { FieldBehaviorLookup } from "./field-behavior.js";

/** A JSON value, as the OpenAPI document holds them. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A JSON Schema object (OpenAPI 3.1 uses JSON Schema 2020-12). */
export type JsonSchema = { [key: string]: JsonValue };

/** Finds the comment of a message, enum or field in its own file; undefined when there is none. */
export type CommentLookup = (desc: DescMessage | DescEnum | DescField) => string | undefined;

/** Scalars in the proto3 JSON mapping: 64-bit integers are strings, bytes are base64. */
const scalars: Record<ScalarType, JsonSchema> = {
  [ScalarType.DOUBLE]: { type: "number", format: "double" },
  [ScalarType.FLOAT]: { type: "number", format: "float" },
  [ScalarType.INT64]: { type: "string", format: "int64" },
  [ScalarType.UINT64]: { type: "string", format: "uint64" },
  [ScalarType.INT32]: { type: "integer", format: "int32" },
  [ScalarType.FIXED64]: { type: "string", format: "uint64" },
  [ScalarType.FIXED32]: { type: "integer", format: "uint32" },
  [ScalarType.BOOL]: { type: "boolean" },
  [ScalarType.STRING]: { type: "string" },
  [ScalarType.BYTES]: { type: "string", format: "byte" },
  [ScalarType.UINT32]: { type: "integer", format: "uint32" },
  [ScalarType.SFIXED32]: { type: "integer", format: "int32" },
  [ScalarType.SFIXED64]: { type: "string", format: "int64" },
  [ScalarType.SINT32]: { type: "integer", format: "int32" },
  [ScalarType.SINT64]: { type: "string", format: "int64" },
};

const nullable = (schema: JsonSchema): JsonSchema => ({ ...schema, type: [schema.type as string, "null"] });

/** Well-known types have their own JSON forms; they are inlined rather than referenced. */
const wellKnown: Record<string, JsonSchema> = {
  "google.protobuf.Timestamp": { type: "string", format: "date-time" },
  "google.protobuf.Duration": { type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$" },
  "google.protobuf.Struct": { type: "object", additionalProperties: true },
  "google.protobuf.Value": {},
  "google.protobuf.ListValue": { type: "array", items: {} },
  "google.protobuf.Empty": { type: "object" },
  "google.protobuf.FieldMask": { type: "string", description: "Comma-separated field paths in lowerCamelCase." },
  "google.protobuf.Any": {
    type: "object",
    properties: { "@type": { type: "string" } },
    required: ["@type"],
    additionalProperties: true,
  },
  "google.protobuf.DoubleValue": nullable(scalars[ScalarType.DOUBLE]),
  "google.protobuf.FloatValue": nullable(scalars[ScalarType.FLOAT]),
  "google.protobuf.Int64Value": nullable(scalars[ScalarType.INT64]),
  "google.protobuf.UInt64Value": nullable(scalars[ScalarType.UINT64]),
  "google.protobuf.Int32Value": nullable(scalars[ScalarType.INT32]),
  "google.protobuf.UInt32Value": nullable(scalars[ScalarType.UINT32]),
  "google.protobuf.BoolValue": nullable(scalars[ScalarType.BOOL]),
  "google.protobuf.StringValue": nullable(scalars[ScalarType.STRING]),
  "google.protobuf.BytesValue": nullable(scalars[ScalarType.BYTES]),
};

/** True for a message whose JSON form is not an object of its fields. */
export function isWellKnown(message: DescMessage): boolean {
  return message.typeName in wellKnown;
}

/**
 * Builds JSON Schemas in the proto3 JSON mapping. Messages and enums are
 * referenced as `#/components/schemas/<full proto name>` and collected,
 * with everything they reach, for `components.schemas`.
 */
export class SchemaCollector {
  private readonly schemas = new Map<string, JsonSchema>();

  constructor(
    private readonly comment: CommentLookup,
    /** The `google.api.field_behavior` of a field, which schemas and parameters follow. */
    readonly behavior: FieldBehaviorLookup = () => ({ required: false, outputOnly: false }),
    /** Fields by their proto names (`create_time`), as a gateway with `--json_use_proto_names` writes them; else their JSON names. */
    private readonly protoNames = false,
  ) {}

  /** The name a field has in the JSON: its JSON name (`createTime`) or, with proto names, its proto name. */
  nameOf(field: DescField): string {
    return this.protoNames ? field.name : field.jsonName;
  }

  /** The schema of a message as a request or response body. */
  message(message: DescMessage): JsonSchema {
    const known = wellKnown[message.typeName];
    if (known) return { ...known };
    if (!this.schemas.has(message.typeName)) {
      this.schemas.set(message.typeName, {}); // placed first, so recursive messages end
      const properties: JsonSchema = {};
      for (const field of message.fields) properties[this.nameOf(field)] = this.field(field);
      const schema = withRequired({ type: "object", properties }, this.required(message.fields));
      this.schemas.set(message.typeName, describe(schema, this.comment(message)));
    }
    return ref(message.typeName);
  }

  /**
   * The schema of a message as a request body when the path sets some of its fields (dotted
   * proto names, `name` or `book.name`): inline and without them, as the gateway takes them from
   * the path; the message's reference when the path sets none of them.
   */
  bodyWithout(message: DescMessage, fromPath: readonly string[]): JsonSchema {
    const heads = new Set(fromPath.map((path) => path.split(".")[0]));
    if (isWellKnown(message) || !message.fields.some((field) => heads.has(field.name))) return this.message(message);
    const properties: JsonSchema = {};
    const kept = message.fields.filter((field) => !fromPath.includes(field.name));
    for (const field of kept) {
      const inner = fromPath.filter((p) => p.startsWith(`${field.name}.`)).map((p) => p.slice(field.name.length + 1));
      properties[this.nameOf(field)] =
        inner.length > 0 && field.fieldKind === "message"
          ? describe(this.bodyWithout(field.message, inner), this.comment(field))
          : this.field(field);
    }
    return describe(withRequired({ type: "object", properties }, this.required(kept)), this.comment(message));
  }

  /** The schema of a field's JSON value, described by the field's comment; `readOnly` when OUTPUT_ONLY. */
  field(field: DescField): JsonSchema {
    const schema = describe(this.value(field), this.comment(field));
    return this.behavior(field).outputOnly ? { ...schema, readOnly: true } : schema;
  }

  /** The names of the fields marked REQUIRED. */
  private required(fields: readonly DescField[]): string[] {
    return fields.filter((field) => this.behavior(field).required).map((field) => this.nameOf(field));
  }

  /** The collected schemas by full proto name, in the order they were met. */
  components(): JsonSchema {
    return Object.fromEntries(this.schemas);
  }

  private value(field: DescField): JsonSchema {
    switch (field.fieldKind) {
      case "scalar":
        return { ...scalars[field.scalar] };
      case "enum":
        return this.enumeration(field.enum);
      case "message":
        return this.message(field.message);
      case "list":
        return { type: "array", items: this.element(field) };
      case "map":
        return { type: "object", additionalProperties: this.element(field) };
    }
  }

  private element(field: DescField & { fieldKind: "list" | "map" }): JsonSchema {
    const kind = field.fieldKind === "list" ? field.listKind : field.mapKind;
    if (kind === "enum" && field.enum) return this.enumeration(field.enum);
    if (kind === "message" && field.message) return this.message(field.message);
    return { ...scalars[field.scalar ?? ScalarType.STRING] };
  }

  private enumeration(desc: DescEnum): JsonSchema {
    if (desc.typeName === "google.protobuf.NullValue") return { type: "null" };
    if (!this.schemas.has(desc.typeName)) {
      const schema: JsonSchema = { type: "string", enum: desc.values.map((v) => v.name) };
      this.schemas.set(desc.typeName, describe(schema, this.comment(desc)));
    }
    return ref(desc.typeName);
  }
}

function withRequired(schema: JsonSchema, required: string[]): JsonSchema {
  return required.length > 0 ? { ...schema, required } : schema;
}

function ref(typeName: string): JsonSchema {
  return { $ref: `#/components/schemas/${typeName}` };
}

/** Adds a description; beside a `$ref` that is allowed in OpenAPI 3.1. */
function describe(schema: JsonSchema, comment: string | undefined): JsonSchema {
  return comment ? { ...schema, description: comment } : schema;
}
