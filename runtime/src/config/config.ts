/**
 * Configuration, after go-micro's config package: layered sources (defaults,
 * a JSON or YAML file, environment variables, an etcd prefix), later layers
 * winning key by key, validated by a schema the service declares, read typed
 * and watched for hot reload. The schema is any Standard Schema validator
 * (zod 4, valibot, arktype…), so the runtime itself depends on none.
 */

/** A configuration value as JSON, YAML, environment variables and etcd give it. */
export type ConfigValue = string | number | boolean | null | readonly ConfigValue[] | ConfigTree;

/** A tree of settings: nested objects whose leaves are configuration values. */
export interface ConfigTree {
  readonly [key: string]: ConfigValue;
}

/** A source that changes while the process runs, as `ConfigSource.watch` returns it. */
export interface SourceWatch {
  /** The source's values when the watch began; every later change is reported after it. */
  readonly initial: ConfigTree;
  /** Stops reporting changes and releases what the watch holds (a connection, a file watcher). */
  close(): Promise<void>;
}

/** What a watched source reports: its whole new tree, or a problem reading it. */
export interface SourceEvents {
  /** The source's whole tree after a change (never a diff: the layers are merged again). */
  changed(tree: ConfigTree): void;
  /** The source could not be read after a change; the configuration keeps its previous values. */
  failed(error: Error): void;
}

/** One layer of configuration: go-micro's `source.Source`. */
export interface ConfigSource {
  /** Names the source in errors and logs, such as `file config.yaml` or `env APP_*`. */
  readonly name: string;
  /** Reads the source's current values once. */
  read(): Promise<ConfigTree>;
  /** Reads the source and reports each later change until closed; sources that never change leave it out. */
  watch?(events: SourceEvents): Promise<SourceWatch>;
  /**
   * Where the value at `path` comes from, such as `config.yaml:12:3`, `env APP_DATABASE__URL` or
   * `etcd /micro/config/user/database/url`. `inside` is the rest of the path when `path` holds a list
   * the key is in (`["0", "hots"]` for `servers[0].hots`), for a source that can point into it (a file).
   */
  locate?(path: readonly string[], inside?: readonly string[]): string;
  /**
   * The text the value at `path` was read from, for a source of text values read loosely (env):
   * a value read as a number or boolean where the schema wants text is taken as this text.
   */
  textAt?(path: readonly string[]): string | undefined;
  /**
   * The source holds keys meant for others too (env: every variable with the prefix, such as the
   * `USER_SERVICE_HOST` Kubernetes sets beside a Service named user), so a key of it that the schema
   * does not read is not warned about.
   */
  readonly holdsOthersKeys?: boolean;
}

/** Called with a watched value after a change, and the value before it. */
export type ConfigWatcher<V> = (value: V, previous: V) => void;

/** Stops a watcher; calling it again does nothing. */
export type Unwatch = () => void;

// Depth counter for ConfigPath: paths deeper than this are not offered (and stay usable through get()).
type Depth = [never, 0, 1, 2, 3, 4, 5, 6];

/** Every dotted path into a settings type `T`, such as `"database"` and `"database.url"`. */
export type ConfigPath<T, D extends number = 6> = [D] extends [never]
  ? never
  : NonNullable<T> extends readonly unknown[]
    ? never
    : NonNullable<T> extends object
      ? {
          [K in keyof NonNullable<T> & string]: K | `${K}.${ConfigPath<NonNullable<T>[K], Depth[D]>}`;
        }[keyof NonNullable<T> & string]
      : never;

// A value under an optional object may be missing even when its own type says otherwise.
type MissingWith<T> = undefined extends T ? undefined : null extends T ? undefined : never;

/** The type of the value at dotted path `P` of settings type `T`. */
export type ConfigValueAt<T, P extends string> = P extends keyof NonNullable<T>
  ? NonNullable<T>[P] | MissingWith<T>
  : P extends `${infer K}.${infer Rest}`
    ? K extends keyof NonNullable<T>
      ? ConfigValueAt<NonNullable<T>[K], Rest> | MissingWith<T>
      : never
    : never;

/**
 * A service's configuration: the layers merged, validated by the schema, and
 * kept current while it runs. A change that does not validate is rejected
 * and logged, and the previous configuration stays in force.
 *
 * ```ts
 * const config = createConfig({
 *   schema: z.object({ database: z.object({ url: z.string(), poolSize: z.number().default(10) }) }),
 *   sources: [fileSource("config.yaml"), envSource({ prefix: "APP_" }), etcdSource({ addresses, service: "user" })],
 *   secrets: ["database.url"],
 *   logger,
 * });
 * await config.start();
 * const database = await openDatabase({ url: config.get("database").url });
 * config.watch("database.url", (url) => reconnect(url));
 * ```
 */
export interface Config<T> {
  /** Reads every source once and validates; throws a SetupError naming each bad key. Watches nothing. */
  load(): Promise<T>;
  /** Reads every source, validates (a SetupError when invalid), then follows the sources that change. */
  start(): Promise<void>;
  /** The whole validated configuration. */
  get(): T;
  /** The validated value at a dotted path, such as `get("database")` or `get("database.url")`. */
  get<P extends ConfigPath<T>>(path: P): ConfigValueAt<T, P>;
  /** Calls `watcher` after each accepted change of the whole configuration. */
  watch(watcher: ConfigWatcher<T>): Unwatch;
  /** Calls `watcher` after each accepted change that alters the value at `path`. */
  watch<P extends ConfigPath<T>>(path: P, watcher: ConfigWatcher<ConfigValueAt<T, P>>): Unwatch;
  /** The validated configuration (what get() returns, defaults included) with secret values replaced by `[secret]`, safe to print or log. */
  redacted(): ConfigTree;
  /** Stops following the sources; the last configuration stays readable. */
  stop(): Promise<void>;
}
