/**
 * Validates merged settings with the service's schema, any Standard Schema
 * validator (zod 4, valibot, arktype…: `@standard-schema/spec` is types
 * only, so the runtime depends on no validator). Problems come back as one
 * line each: the key path, the schema's message (what was expected), and
 * where the value was set.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { ConfigTree } from "./config.js";
import { formatPath, valueAt } from "./key-paths.js";
import type { Layer } from "./merge-layers.js";
import type { SecretPaths } from "./secrets.js";

/** The outcome of validating a configuration: its typed value, or what is wrong, one line per problem. */
export type Validation<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problems: string[] };

/** Validates `tree` with `schema`; problems name the key path, what was expected and the source that set it. */
export async function validateConfig<S extends StandardSchemaV1>(
  schema: S,
  tree: ConfigTree,
  origins: ReadonlyMap<string, Layer>,
  secrets: SecretPaths,
): Promise<Validation<StandardSchemaV1.InferOutput<S>>> {
  const result = await schema["~standard"].validate(tree);
  if (!result.issues) return { ok: true, value: result.value };
  return { ok: false, problems: result.issues.map((issue) => describeIssue(issue, tree, origins, secrets)) };
}

/** `database.port: Invalid input: expected number, received string (set by env APP_DATABASE__PORT)`. */
function describeIssue(
  issue: StandardSchemaV1.Issue,
  tree: ConfigTree,
  origins: ReadonlyMap<string, Layer>,
  secrets: SecretPaths,
): string {
  const segments = (issue.path ?? []).map((segment) => (typeof segment === "object" ? segment.key : segment));
  const keys = segments.map(String);
  // Some validators quote the bad value in their message: a secret's value must not reach a log that way.
  const message = secrets.isSecret(keys) ? secrets.hideIn(issue.message, valueAt(tree, keys)) : issue.message;
  const where = originOf(keys, origins);
  return `${formatPath(segments)}: ${message}${where ? ` (set by ${where})` : ""}`;
}

/** The source that set the value at `keys`, or of its nearest parent that some source set. */
function originOf(keys: readonly string[], origins: ReadonlyMap<string, Layer>): string | undefined {
  for (let length = keys.length; length > 0; length--) {
    const layer = origins.get(keys.slice(0, length).join("."));
    if (!layer) continue;
    return layer.source.locate?.(keys.slice(0, length)) ?? layer.source.name;
  }
  return undefined;
}
