/**
 * Validates merged settings with the service's schema, any Standard Schema
 * validator (zod 4, valibot, arktype…: `@standard-schema/spec` is types
 * only, so the runtime depends on no validator). Problems come back as one
 * line each: the key path, the schema's message (what was expected), and
 * where the value was set.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { closestName } from "../errors/closest-name.js";
import type { ConfigTree } from "./config.js";
import { formatPath, isConfigTree, valueAt } from "./key-paths.js";
import type { Layer } from "./merge-layers.js";
import { schemaKeysAt } from "./schema-keys.js";
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
  sources: readonly Layer["source"][] = [],
): Promise<Validation<StandardSchemaV1.InferOutput<S>>> {
  const result = await schema["~standard"].validate(tree);
  if (!result.issues) return { ok: true, value: result.value };
  // A value that read as a number or boolean where the schema wants text (APP_DB__PASSWORD=123456) is the text written.
  const failing = result.issues.map(keysOf);
  const asText = withTextAt(tree, failing, origins);
  if (!asText) return invalid(schema, result.issues, tree, origins, secrets, sources);
  const again = await schema["~standard"].validate(asText);
  const stillWrong = again.issues;
  if (!stillWrong) return { ok: true, value: again.value };
  // Some other key is wrong too. Keep as text only the values the schema took as text, so the
  // problems name the real culprits: USER_GREETING=123 beside a bad USER_PAGE__SIZE=7.5 is not one,
  // while 7.5 stays the number it read as (not "expected number, received string").
  const takenAsText = failing.filter((keys) => !stillWrong.some((issue) => startsWith(keysOf(issue), keys)));
  const mixed = withTextAt(tree, takenAsText, origins) ?? tree;
  const last = mixed === tree ? result : await schema["~standard"].validate(mixed);
  if (!last.issues) return { ok: true, value: last.value };
  return invalid(schema, last.issues, mixed, origins, secrets, sources);
}

/** The failed validation of `tree`: one line per issue, and per key a strict object refused. */
function invalid(
  schema: StandardSchemaV1,
  issues: readonly StandardSchemaV1.Issue[],
  tree: ConfigTree,
  origins: ReadonlyMap<string, Layer>,
  secrets: SecretPaths,
  sources: readonly Layer["source"][],
): { readonly ok: false; readonly problems: string[] } {
  const problems = issues.flatMap((issue) => {
    const refused = refusedKeys(issue);
    if (!refused) return [describeIssue(issue, tree, origins, secrets, sources)];
    return refused.map((key) => describeRefusedKey([...keysOf(issue), key], schema, origins));
  });
  return { ok: false, problems };
}

/**
 * The keys a strict object (`z.strictObject`) refused, which zod's issue lists; the Standard Schema
 * issue type has no field for them, so another validator's issue is described as it comes.
 */
function refusedKeys(issue: StandardSchemaV1.Issue): string[] | undefined {
  const { code, keys } = issue as { code?: unknown; keys?: unknown };
  if (code !== "unrecognized_keys" || !Array.isArray(keys)) return undefined;
  return keys.every((key) => typeof key === "string") && keys.length > 0 ? keys : undefined;
}

/**
 * `page.sise: the schema allows no such key here (set by config.yaml:2:3; did you mean page.size?)`:
 * the key itself, where it was set and the key meant, as the unknown-key warning says, where the
 * validator's own words (`Unrecognized key: "sise"`) name only the parent.
 */
function describeRefusedKey(
  keys: readonly string[],
  schema: StandardSchemaV1,
  origins: ReadonlyMap<string, Layer>,
): string {
  const parent = keys.slice(0, -1);
  const meant = closestName(keys.at(-1)!, schemaKeysAt(schema, parent));
  const where = originOf(keys, origins);
  const hints = [
    ...(where ? [`set by ${where}`] : []),
    meant === undefined ? "remove it" : `did you mean ${formatPath([...parent, meant])}?`,
  ];
  return `${formatPath(keys)}: the schema allows no such key here (${hints.join("; ")})`;
}

/** Whether key path `keys` is `prefix` or lies under it. */
function startsWith(keys: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= keys.length && prefix.every((key, index) => keys[index] === key);
}

/** An issue's key path, as strings. */
function keysOf(issue: StandardSchemaV1.Issue): string[] {
  return (issue.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment));
}

/**
 * `tree` with the numbers and booleans at `paths` replaced by the text their source read them
 * from (env's), or undefined when there are none: a file's or etcd's typed values stay as they are.
 */
function withTextAt(
  tree: ConfigTree,
  paths: readonly (readonly string[])[],
  origins: ReadonlyMap<string, Layer>,
): ConfigTree | undefined {
  let changed: ConfigTree | undefined;
  for (const keys of paths) {
    const value = valueAt(tree, keys);
    if (keys.length === 0 || (typeof value !== "number" && typeof value !== "boolean")) continue;
    const text = origins.get(keys.join("."))?.source.textAt?.(keys);
    if (text === undefined) continue;
    changed ??= structuredClone(tree);
    let parent = changed as Record<string, unknown>;
    for (const key of keys.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
    parent[keys.at(-1)!] = text;
  }
  return changed;
}

/** `database.port: Invalid input: expected number, received string (set by env APP_DATABASE__PORT)`. */
function describeIssue(
  issue: StandardSchemaV1.Issue,
  tree: ConfigTree,
  origins: ReadonlyMap<string, Layer>,
  secrets: SecretPaths,
  sources: readonly Layer["source"][],
): string {
  const segments = (issue.path ?? []).map((segment) => (typeof segment === "object" ? segment.key : segment));
  const keys = keysOf(issue);
  // Some validators quote the bad value in their message: a secret's value must not reach a log that way.
  const message = secrets.isSecret(keys) ? secrets.hideIn(issue.message, valueAt(tree, keys)) : issue.message;
  const missing = valueAt(tree, keys) === undefined;
  // A missing key beside a slip of it (`prot` for `port`): the slip is the news, not where the parent was set.
  const slip = missing ? slipHint(keys, tree, origins) : undefined;
  if (slip) return `${formatPath(segments)}: ${message}${slip}`;
  const where = originOf(keys, origins);
  if (where) return `${formatPath(segments)}: ${message} (set by ${where})`;
  return `${formatPath(segments)}: ${message}${missing ? unsetHint(keys, sources) : ""}`;
}

/**
 * For a key no source set, a key beside it that one did set and is a slip of it:
 * ` (set by no source, though config.yaml:2:3 sets page.sise: rename it page.size)`.
 */
function slipHint(keys: readonly string[], tree: ConfigTree, origins: ReadonlyMap<string, Layer>): string | undefined {
  const wanted = keys.at(-1);
  const parent = valueAt(tree, keys.slice(0, -1));
  if (wanted === undefined || !isConfigTree(parent)) return undefined;
  const slip = Object.keys(parent).find((key) => key !== wanted && closestName(key, [wanted]) === wanted);
  if (slip === undefined) return undefined;
  const where = originOf([...keys.slice(0, -1), slip], origins);
  const set = formatPath([...keys.slice(0, -1), slip]);
  return ` (set by no source, though ${where ?? "a source"} sets ${set}: rename it ${formatPath(keys)})`;
}

/** Where a key no source set could be set: ` (set by no source; set it in config.yaml:1:1, env USER_PAGE__SIZE)`. */
function unsetHint(keys: readonly string[], sources: readonly Layer["source"][]): string {
  const places = sources.filter((source) => source.name !== "defaults").map((s) => s.locate?.(keys) ?? s.name);
  return places.length === 0 ? "" : ` (set by no source; set it in ${places.join(", ")})`;
}

/**
 * The source that set the value at `keys`, or of its nearest parent that some source set (the list
 * holding it, say), which is asked about the rest of the path too: a file can name the key's line.
 */
function originOf(keys: readonly string[], origins: ReadonlyMap<string, Layer>): string | undefined {
  for (let length = keys.length; length > 0; length--) {
    const layer = origins.get(keys.slice(0, length).join("."));
    if (!layer) continue;
    return layer.source.locate?.(keys.slice(0, length), keys.slice(length)) ?? layer.source.name;
  }
  return undefined;
}
