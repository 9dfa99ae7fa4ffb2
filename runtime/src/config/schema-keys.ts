/**
 * The keys a schema names at a path, for a "did you mean" when a strict
 * object refuses one. Read from the schema's JSON Schema (Standard JSON
 * Schema: zod 4.2+, arktype, valibot's adapter), which lists optional keys
 * too; a validator without it, or a schema it cannot convert, names none.
 */
import type { StandardJSONSchemaV1, StandardSchemaV1 } from "@standard-schema/spec";

type JsonSchema = Record<string, unknown>;

/** The property names the schema gives the object at `segments` (a number segment is a list's item). */
export function schemaKeysAt(schema: StandardSchemaV1, segments: readonly string[]): string[] {
  const root = inputJsonSchema(schema);
  if (!root) return [];
  let nodes = branches(root, root);
  for (const segment of segments) nodes = nodes.flatMap((node) => branches(childOf(node, segment), root));
  return [...new Set(nodes.flatMap((node) => (isSchema(node.properties) ? Object.keys(node.properties) : [])))];
}

function inputJsonSchema(schema: StandardSchemaV1): JsonSchema | undefined {
  const converter = (schema["~standard"] as Partial<StandardJSONSchemaV1.Props>).jsonSchema;
  try {
    // zod throws on a type JSON Schema cannot show (a z.date()) unless told to leave it open.
    return converter?.input({ target: "draft-2020-12", libraryOptions: { unrepresentable: "any" } });
  } catch {
    return undefined;
  }
}

/** `node` and the alternatives it is made of (a union, a nullable, a reference), as plain object schemas. */
function branches(node: unknown, root: JsonSchema, depth = 0): JsonSchema[] {
  if (!isSchema(node) || depth > 8) return [];
  const referenced = typeof node.$ref === "string" ? [resolve(node.$ref, root)] : [];
  const parts = [node.anyOf, node.oneOf, node.allOf, referenced].flatMap((list) => (Array.isArray(list) ? list : []));
  return [node, ...parts.flatMap((part: unknown) => branches(part, root, depth + 1))];
}

/** The schema of `segment` inside `node`: a property, or a list's items. */
function childOf(node: JsonSchema, segment: string): unknown {
  if (/^\d+$/.test(segment) && isSchema(node.items)) return node.items;
  return isSchema(node.properties) ? node.properties[segment] : undefined;
}

/** A local reference, `#` or `#/$defs/name`; anything else is not followed. */
function resolve(ref: string, root: JsonSchema): unknown {
  if (!ref.startsWith("#")) return undefined;
  let node: unknown = root;
  for (const part of ref.slice(1).split("/").filter(Boolean)) node = isSchema(node) ? node[part] : undefined;
  return node;
}

function isSchema(value: unknown): value is JsonSchema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
