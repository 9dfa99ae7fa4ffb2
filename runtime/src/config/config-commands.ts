/**
 * What `tsmicro config get|set|del|watch|import` do against etcd, as
 * functions the CLI calls: the command file only parses flags. Paths are
 * dotted (`database.url`); values print as JSON with secrets shown as
 * `[secret]` unless asked otherwise. etcd3 is loaded on first use.
 */
import { readFile } from "node:fs/promises";
import { jsonMistake } from "../definition/json-mistake.js";
import { SetupError } from "../errors/setup-error.js";
import { etcdEndpoints, type EtcdCredentials } from "../registry/etcd-address.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { ConfigTree, ConfigValue } from "./config.js";
import type { EtcdConfigStore } from "./etcd-config-store.js";
import { fileReadProblem } from "./file-read-problem.js";
import { configPrefix } from "./etcd-source.js";
import { formatPath, leavesAt, parseLooseValue, splitPath, valueAt } from "./key-paths.js";
import { treeOfLeaves } from "./merge-layers.js";
import { formatOf, parseConfigText } from "./parse-config-text.js";
import { SecretPaths } from "./secrets.js";

/** Where the settings are and how to print them: the flags every config command takes. */
export interface ConfigCommandOptions {
  /** etcd endpoints; empty for `127.0.0.1:2379`. Each may name the user first: `app:PASSWORD@host:2379`. */
  readonly addresses: readonly string[];
  /** The user to authenticate as when the addresses name none (`etcdCredentialsFromEnv(process.env)`). */
  readonly auth?: EtcdCredentials | undefined;
  /** The service whose settings: prefix `/micro/config/<service>/`. */
  readonly service?: string | undefined;
  /** The key prefix instead of the service's. */
  readonly prefix?: string | undefined;
  /** Print secret values as they are. */
  readonly showSecrets?: boolean;
  /** Dotted paths to treat as secret besides credential-named keys. */
  readonly secrets?: readonly string[];
}

/** One change as `tsmicro config watch` prints it, one JSON line each. */
export interface PrintedChange {
  readonly action: "put" | "delete";
  readonly path: string;
  readonly key: string;
  readonly value?: ConfigValue;
}

/** `tsmicro config get [PATH]`: the subtree or value at `path` (all settings for none) as indented JSON. */
export async function configGet(options: ConfigCommandOptions, path = ""): Promise<string> {
  return withStore(options, async (store) => {
    const segments = splitPath(path);
    const tree = treeOfLeaves((await store.read(segments)).entries);
    const value = valueAt(tree, segments);
    if (value === undefined) {
      if (segments.length === 0) return "{}\n";
      throw new TsmicroError(Code.NOT_FOUND, `no setting ${path} under ${store.prefix} in etcd at ${store.where}`);
    }
    return `${JSON.stringify(printable(options, value as ConfigValue, segments), null, 2)}\n`;
  });
}

/**
 * `tsmicro config set PATH VALUE`: VALUE is JSON when it parses (`8080`, `true`, `{"a":1}`), else a
 * string; one that starts as JSON does (`{`, `[`, `"`) but does not parse is refused (see valueToSet).
 */
export async function configSet(options: ConfigCommandOptions, path: string, value: string): Promise<string> {
  const segments = requirePath(path, "set");
  const parsed = valueToSet(path, value);
  return withStore(options, async (store) => {
    const leaves = leavesAt(segments, parsed);
    const overlap = overlapping((await store.read()).entries, leaves);
    if (overlap) throw new TsmicroError(Code.FAILED_PRECONDITION, overlap);
    const written = await store.put(segments, parsed);
    // An object of one setting (`set page '{"size":3}'`) writes page.size's key, not page's: name that one.
    const [only] = leaves;
    if (written === 1 && only) return `set ${formatPath(only.segments)} (${store.keyOf(only.segments)})\n`;
    return `set ${path} (${written} keys under ${store.keyOf(segments)}/)\n`;
  });
}

/**
 * `text` as set stores it. Text that starts as a JSON object, list or string does but does not parse
 * (`{"size":3` with its brace lost) is a slip far more often than a string meant: stored as the string
 * it would reach the service as text, and its schema would refuse it only there, or not at all.
 */
function valueToSet(path: string, text: string): ConfigValue {
  const first = text.trimStart().charAt(0);
  if (first === "" || !'{["'.includes(first)) return parseLooseValue(text);
  try {
    JSON.parse(text);
  } catch (error) {
    const { line, column, reason } = jsonMistake(text, "the value", error);
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      `the value for ${path} is not valid JSON at line ${line}, column ${column}: ${reason}; a value starting with ${first} is read as JSON. ` +
        `To store the text as a string, give it as a JSON string: ${singleQuoted(JSON.stringify(text))}`,
    );
  }
  return parseLooseValue(text);
}

/** `text` as one shell word in single quotes, for a command to copy. */
function singleQuoted(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/**
 * Why writing `leaves` would leave a setting that both holds a value and has settings under it
 * (`page` = 7 beside `page.size`), which readers see as one or the other; undefined when none would.
 */
function overlapping(
  stored: readonly { readonly segments: readonly string[] }[],
  leaves: readonly { readonly segments: readonly string[] }[],
): string | undefined {
  const inside = (inner: readonly string[], outer: readonly string[]) =>
    inner.length > outer.length && outer.every((segment, i) => inner[i] === segment);
  for (const leaf of leaves)
    for (const entry of stored) {
      const [path, other] = [formatPath(leaf.segments), formatPath(entry.segments)];
      if (inside(entry.segments, leaf.segments))
        return `${path} has settings under it (${other}), which a value there would hide: set those, or delete ${path} first (tsmicro config del ${path})`;
      if (inside(leaf.segments, entry.segments))
        return `${other} is a value, so ${path} cannot go under it: delete ${other} first (tsmicro config del ${other}), or set ${other} to an object`;
    }
  return undefined;
}

/** `tsmicro config del PATH`: deletes the setting and everything under it; an error when there is none. */
export async function configDelete(options: ConfigCommandOptions, path: string): Promise<string> {
  const segments = requirePath(path, "del");
  return withStore(options, async (store) => {
    const deleted = await store.delete(segments);
    if (deleted === 0)
      throw new TsmicroError(Code.NOT_FOUND, `no setting ${path} under ${store.prefix} in etcd at ${store.where}`);
    return `deleted ${path} (${deleted} ${deleted === 1 ? "key" : "keys"})\n`;
  });
}

/**
 * `tsmicro config import FILE`: a JSON or YAML file written as one key per
 * leaf under the prefix, in one transaction. With `replace`, keys under the
 * prefix the file does not hold are deleted, so etcd ends up equal to it.
 */
export async function configImport(options: ConfigCommandOptions, file: string, replace = false): Promise<string> {
  const tree = await readSettingsFile(file);
  return withStore(options, async (store) => {
    const { written, deleted } = await store.putTree(tree, { replace });
    return `imported ${written} ${written === 1 ? "key" : "keys"} from ${file} into ${store.prefix}${
      replace ? ` (deleted ${deleted} not in the file)` : ""
    }\n`;
  });
}

/**
 * `tsmicro config watch [PATH]`: calls `print` with each change at or under
 * `path` as one JSON line, until `signal` aborts.
 */
export async function configWatch(
  options: ConfigCommandOptions,
  path: string,
  print: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const segments = splitPath(path);
  await withStore(options, async (store) => {
    const { revision } = await store.read(segments);
    const under = (changed: readonly string[]) => segments.every((segment, i) => changed[i] === segment);
    const watch = store.watch(revision, {
      changes(changes) {
        for (const change of changes) {
          if (!under(change.segments)) continue;
          const line: PrintedChange =
            change.action === "delete" || change.value === undefined
              ? { action: "delete", path: formatPath(change.segments), key: change.key }
              : {
                  action: "put",
                  path: formatPath(change.segments),
                  key: change.key,
                  value: printable(options, change.value, change.segments),
                };
          print(`${JSON.stringify(line)}\n`);
        }
      },
      resync() {
        // Changes missed while etcd compacted are not replayed; say so rather than pretend.
        print(`${JSON.stringify({ action: "resync", path: path || "(root)" })}\n`);
      },
    });
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await watch.close();
  });
}

/**
 * The etcd addresses from `--registry_address`, else `TSMICRO_REGISTRY_ADDRESS`
 * or `MICRO_REGISTRY_ADDRESS` when the registry they belong to is etcd, or
 * is not named and they are not a folder (a local registry's address is a
 * folder). `--registry` may only say etcd.
 */
export function configAddresses(
  flags: { readonly registry?: string | undefined; readonly registryAddress?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  if (flags.registry !== undefined && flags.registry !== "etcd")
    throw new SetupError(
      "TSM_ERR_FLAG",
      "--registry",
      JSON.stringify(flags.registry),
      "the config centre is in etcd; pass --registry etcd or leave it out",
    );
  const registry = env.TSMICRO_REGISTRY ?? env.MICRO_REGISTRY;
  const address = env.TSMICRO_REGISTRY_ADDRESS ?? env.MICRO_REGISTRY_ADDRESS;
  // With the registry unset (local, by default), an address that is a folder is the local registry's.
  const fromEnv = registry === "etcd" || (registry === undefined && !isFolder(address)) ? address : undefined;
  const addresses = (flags.registryAddress ?? fromEnv ?? "")
    .split(",")
    .map((address) => address.trim())
    .filter(Boolean);
  const source =
    flags.registryAddress !== undefined
      ? "--registry_address"
      : env.TSMICRO_REGISTRY_ADDRESS !== undefined
        ? "TSMICRO_REGISTRY_ADDRESS"
        : "MICRO_REGISTRY_ADDRESS";
  etcdEndpoints(addresses, source);
  return addresses;
}

/** A path (`/tmp/registry`, `./reg`, `~/reg`), not `host:port` or a URL. */
function isFolder(address: string | undefined): boolean {
  if (address === undefined) return false;
  return /^[.~]/.test(address) || (address.includes("/") && !address.includes("://"));
}

/** Reads a JSON or YAML settings file; errors name the file (and line and column). */
export async function readSettingsFile(file: string): Promise<ConfigTree> {
  const format = formatOf(file);
  if (!format) throw new SetupError("TSM_ERR_CONFIG_FILE", file, "unknown format; name the file .json, .yaml or .yml");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new SetupError("TSM_ERR_CONFIG_FILE", file, fileReadProblem(error));
  }
  return parseConfigText(text, file, format);
}

async function withStore<T>(options: ConfigCommandOptions, use: (store: EtcdConfigStore) => Promise<T>): Promise<T> {
  const { openEtcdConfigStore } = await import("./etcd-config-store.js");
  const store = await openEtcdConfigStore({
    addresses: options.addresses,
    prefix: configPrefix(options.service, options.prefix),
    dialTimeoutMs: 3_000,
    ...(options.auth ? { auth: options.auth } : {}),
    unreachableHint: "start etcd, or pass its endpoints with --registry_address",
    addressFlag: "--registry_address",
    credentialsHint: "--registry_address (user:password@host:2379) or ETCD_USERNAME and ETCD_PASSWORD",
  });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

function printable(options: ConfigCommandOptions, value: ConfigValue, segments: readonly string[]): ConfigValue {
  if (options.showSecrets) return value;
  return new SecretPaths(options.secrets).redactValue(value, segments);
}

function requirePath(path: string, command: string): string[] {
  const segments = splitPath(path);
  if (segments.length === 0 || segments.some((segment) => segment === ""))
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      `config ${command} needs a dotted setting path such as database.url, not ${JSON.stringify(path)}`,
    );
  return segments;
}
