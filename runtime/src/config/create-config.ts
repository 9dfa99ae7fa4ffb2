/**
 * createConfig: the layers read, merged (later wins), validated by the
 * service's schema and followed while the service runs. State lives in one
 * small class; each step (read, merge and validate, notify) is its own method.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { formatError } from "../errors/catalogue.js";
import { isSetupError, SetupError } from "../errors/setup-error.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { nodeUtil } from "../platform/node-builtins.js";
import type {
  Config,
  ConfigPath,
  ConfigSource,
  ConfigTree,
  ConfigValueAt,
  ConfigWatcher,
  SourceWatch,
  Unwatch,
} from "./config.js";
import { defaultsSource } from "./defaults-source.js";
import { formatPath, isConfigTree, leavesOf, sameValue, splitPath, valueAt } from "./key-paths.js";
import { type Layer, mergeLayers } from "./merge-layers.js";
import { SecretPaths } from "./secrets.js";
import { describeUnknownKey, unknownKeys } from "./unknown-keys.js";
import { validateConfig } from "./validate-config.js";

/** Options of createConfig. */
export interface ConfigOptions<S extends StandardSchemaV1> {
  /**
   * The settings' schema: any Standard Schema validator, such as a zod 4,
   * valibot or arktype object. Its output type is what `get()` returns, and
   * its defaults fill what no source sets.
   */
  readonly schema: S;
  /**
   * The layers, lowest first; a later one wins key by key. The usual order is
   * go-micro's: `[fileSource("config.yaml"), envSource({ prefix: "APP_" }), etcdSource({ … })]`.
   */
  readonly sources: readonly ConfigSource[];
  /** Values below every source. */
  readonly defaults?: ConfigTree;
  /**
   * Dotted paths of secret values (a path hides its subtree), such as
   * `database.url`, besides keys named like credentials (`password`,
   * `token`, `secret`, `apiKey`…). Secrets are never printed or logged.
   */
  readonly secrets?: readonly string[];
  /** Where rejected changes and failing watchers are reported. Default: a JSON logger on stdout. */
  readonly logger?: Logger;
}

/**
 * A configuration from layered sources, validated by `options.schema`: see
 * `Config`. Call `start()` (or `load()` for a one-off read) before `get()`.
 */
export function createConfig<S extends StandardSchemaV1>(
  options: ConfigOptions<S>,
): Config<StandardSchemaV1.InferOutput<S>> {
  return new LayeredConfig<StandardSchemaV1.InferOutput<S>>(options);
}

interface WatcherEntry {
  readonly segments: readonly string[] | undefined;
  readonly watcher: ConfigWatcher<unknown>;
}

/** The accepted state: the layers it came from and the validated value. */
interface Accepted<T> {
  readonly layers: readonly Layer[];
  readonly tree: ConfigTree;
  readonly value: T;
  /** The dotted paths of keys the schema does not read, already warned about. */
  readonly unknown: ReadonlySet<string>;
}

class LayeredConfig<T> implements Config<T> {
  readonly #schema: StandardSchemaV1<unknown, T>;
  readonly #sources: readonly ConfigSource[];
  readonly #secrets: SecretPaths;
  readonly #logger: Logger;
  readonly #watchers = new Set<WatcherEntry>();
  #accepted: Accepted<T> | undefined;
  #watches: SourceWatch[] = [];
  #starting: Promise<void> | undefined;
  #stopped = false;
  /** Changes are applied one at a time, in the order they arrived, even when the schema validates asynchronously. */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: ConfigOptions<StandardSchemaV1<unknown, T>>) {
    this.#schema = options.schema;
    this.#sources = [...(options.defaults ? [defaultsSource(options.defaults)] : []), ...options.sources];
    this.#secrets = new SecretPaths(options.secrets);
    this.#logger = options.logger ?? createLogger();
  }

  async load(): Promise<T> {
    const trees = await Promise.all(this.#sources.map((source) => source.read()));
    await this.#acceptInitial(trees);
    return this.get();
  }

  start(): Promise<void> {
    this.#starting ??= this.#start().catch((error: unknown) => {
      this.#starting = undefined;
      throw error;
    });
    return this.#starting;
  }

  get(): T;
  get<P extends ConfigPath<T>>(path: P): ConfigValueAt<T, P>;
  get(path?: string): unknown {
    const accepted = this.#accepted;
    if (!accepted)
      throw new TsmicroError(
        Code.FAILED_PRECONDITION,
        "the configuration is not loaded yet; call start() or load() first",
      );
    return path === undefined ? accepted.value : valueAt(accepted.value, splitPath(path));
  }

  watch(watcher: ConfigWatcher<T>): Unwatch;
  watch<P extends ConfigPath<T>>(path: P, watcher: ConfigWatcher<ConfigValueAt<T, P>>): Unwatch;
  watch(pathOrWatcher: string | ConfigWatcher<never>, watcher?: ConfigWatcher<never>): Unwatch {
    const entry: WatcherEntry =
      typeof pathOrWatcher === "string"
        ? { segments: splitPath(pathOrWatcher), watcher: watcher as ConfigWatcher<unknown> }
        : { segments: undefined, watcher: pathOrWatcher as ConfigWatcher<unknown> };
    this.#watchers.add(entry);
    return () => {
      this.#watchers.delete(entry);
    };
  }

  redacted(): ConfigTree {
    const accepted = this.#accepted;
    if (!accepted) return {};
    // What get() returns, the schema's defaults included; the sources' merged tree when the schema made no object.
    const value: unknown = accepted.value;
    return this.#secrets.redact(isConfigTree(value) ? value : accepted.tree);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#starting?.catch(() => undefined);
    // A later start() follows the sources again, from what they hold then.
    this.#starting = undefined;
    const watches = this.#watches;
    this.#watches = [];
    await Promise.all(watches.map((watch) => watch.close()));
    await this.#queue;
  }

  /** Printing the configuration (console.log, JSON.stringify, a logger) shows it redacted. */
  toJSON(): ConfigTree {
    return this.redacted();
  }

  // util.inspect.custom, by its registered name: importing node:util costs more than this needs.
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Config ${nodeUtil().inspect(this.redacted(), { depth: 8 })}`;
  }

  async #start(): Promise<void> {
    this.#stopped = false;
    // A change can arrive while other sources are still being read: it waits for the first configuration,
    // then applies in order, so nothing a source reported during start() is lost.
    let firstSettled!: () => void;
    const first = new Promise<void>((resolve) => {
      firstSettled = resolve;
    });
    const opened: SourceWatch[] = [];
    try {
      const trees = await Promise.all(
        this.#sources.map(async (source, index) => {
          if (!source.watch) return source.read();
          const watch = await source.watch({
            changed: (tree) => this.#enqueue(() => first.then(() => this.#change(index, tree))),
            failed: (error) => this.#sourceFailed(source, error),
          });
          opened.push(watch);
          return watch.initial;
        }),
      );
      await this.#acceptInitial(trees);
    } catch (error) {
      await Promise.all(opened.map((watch) => watch.close()));
      throw error;
    } finally {
      firstSettled();
    }
    this.#watches = opened;
  }

  /** The first configuration: one that does not validate is a SetupError naming each bad key. */
  async #acceptInitial(trees: readonly ConfigTree[]): Promise<void> {
    const layers = trees.map((tree, index) => ({ source: this.#sources[index]!, tree }));
    const { tree, origins } = mergeLayers(layers);
    const result = await validateConfig(this.#schema, tree, origins, this.#secrets, this.#sources);
    if (!result.ok) throw new SetupError("TSM_ERR_CONFIG_INVALID", result.problems.join("; "));
    this.#accepted = { layers, tree, value: result.value, unknown: this.#warnUnknown(tree, result.value, layers) };
  }

  /**
   * Warns once about each key the sources set that the schema does not read (a slip such as `prot` for
   * `port`), and returns them all. A warning, not an error: a key may be meant for a newer version of the
   * service (set in etcd before it rolls out, or in a file its older version is rolled back to).
   */
  #warnUnknown(
    tree: ConfigTree,
    value: T,
    layers: readonly Layer[],
    warned: ReadonlySet<string> = new Set(),
  ): ReadonlySet<string> {
    const found = unknownKeys(tree, value, layers);
    for (const key of found) {
      if (warned.has(key.path)) continue;
      const fields = { key: key.path, where: key.where, ...(key.meant ? { meant: key.meant } : {}) };
      this.#logger.warn(fields, describeUnknownKey(key));
    }
    return new Set(found.map((key) => key.path));
  }

  #enqueue(work: () => Promise<void>): void {
    this.#queue = this.#queue.then(work).catch((error: unknown) => {
      this.#logger.error({ err: error }, "applying a configuration change failed");
    });
  }

  /** Source `index` changed: merge again and validate; a bad result is logged and the previous configuration stays. */
  async #change(index: number, sourceTree: ConfigTree): Promise<void> {
    const previous = this.#accepted;
    if (!previous || this.#stopped) return;
    const source = this.#sources[index]!;
    const layers = previous.layers.map((layer, i) => (i === index ? { source, tree: sourceTree } : layer));
    const { tree, origins } = mergeLayers(layers);
    const result = await validateConfig(this.#schema, tree, origins, this.#secrets, this.#sources);
    if (!result.ok) {
      this.#logger.error(
        {
          code: "TSM_ERR_CONFIG_INVALID",
          source: source.name,
          problems: result.problems,
          message: formatError("TSM_ERR_CONFIG_INVALID", result.problems.join("; ")),
        },
        `configuration change from ${source.name} rejected; the previous configuration stays`,
      );
      return;
    }
    const unknown = this.#warnUnknown(tree, result.value, layers, previous.unknown);
    this.#accepted = { layers, tree, value: result.value, unknown };
    // A key no setting reads (just warned about, or before the change: a slip removed) changed nothing the service uses.
    const changed = changedPaths(previous.tree, tree).filter(
      (path) => !isUnder(path, unknown) && !isUnder(path, previous.unknown),
    );
    if (changed.length === 0) return;
    this.#logger.info({ source: source.name, changed }, "configuration changed");
    this.#notify(previous.value, result.value);
  }

  #notify(previous: T, value: T): void {
    for (const { segments, watcher } of [...this.#watchers]) {
      const before = segments ? valueAt(previous, segments) : previous;
      const after = segments ? valueAt(value, segments) : value;
      if (sameValue(before, after)) continue;
      // The new configuration is in force either way; the watcher's owner learns from the log.
      const failed = (error: unknown) =>
        this.#logger.error(
          { err: error, path: segments ? formatPath(segments) : "(root)" },
          "a configuration watcher failed",
        );
      try {
        // An async watcher (reconnecting a database, say) returns a promise; its failure is logged the same way.
        const returned: unknown = watcher(after, before);
        if (returned instanceof Promise) returned.catch(failed);
      } catch (error) {
        failed(error);
      }
    }
  }

  #sourceFailed(source: ConfigSource, error: Error): void {
    // A SetupError says what is wrong and where (`config.yaml:3:7: …`): its stack would say nothing more.
    const fields = isSetupError(error) ? { code: error.code, reason: error.message } : { err: error };
    this.#logger.error(
      { source: source.name, ...fields },
      `configuration source ${source.name} could not be read; the previous configuration stays`,
    );
  }
}

/** Whether `path` is one of `keys` or inside one (`a.b` and `a.b[0]` are inside `a`). */
function isUnder(path: string, keys: ReadonlySet<string>): boolean {
  if (keys.has(path)) return true;
  for (const key of keys) if (path.startsWith(`${key}.`) || path.startsWith(`${key}[`)) return true;
  return false;
}

/** The dotted paths of leaves added, removed or changed between two trees (names only: values may be secret). */

function changedPaths(before: ConfigTree, after: ConfigTree): string[] {
  const old = new Map(leavesOf(before).map((leaf) => [formatPath(leaf.segments), leaf.value]));
  const now = new Map(leavesOf(after).map((leaf) => [formatPath(leaf.segments), leaf.value]));
  const paths = new Set([...old.keys(), ...now.keys()]);
  return [...paths].filter((path) => !old.has(path) || !now.has(path) || !sameValue(old.get(path), now.get(path)));
}
