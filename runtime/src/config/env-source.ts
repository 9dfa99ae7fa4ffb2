/**
 * Environment variables as a configuration layer. Variables starting with
 * the prefix become settings: after the prefix, a double underscore nests
 * (`APP_DATABASE__URL` → `database.url`) and each part turns from
 * SHOUTING_SNAKE to camelCase (`APP_HTTP__READ_TIMEOUT` → `http.readTimeout`).
 * Values are read as JSON when they are JSON (`8080`, `true`, `["a","b"]`),
 * else as strings; quote a number meant as a string (`APP_ZIP='"01234"'`).
 */
import type { ConfigSource, ConfigTree } from "./config.js";
import { parseLooseValue } from "./key-paths.js";
import { treeOfLeaves } from "./merge-layers.js";

/** Options of envSource. */
export interface EnvSourceOptions {
  /**
   * Only variables starting with this are read, such as `APP_`; the prefix
   * is not part of the key. `APP` reads the same: the underscore that ends a
   * prefix is added when missing.
   */
  readonly prefix: string;
  /** The variables to read. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** `camel` (default): `READ_TIMEOUT` → `readTimeout`; `snake`: → `read_timeout`, as go-micro's env source. */
  readonly keys?: "camel" | "snake";
}

/** A layer read from the environment variables starting with `options.prefix`. */
export function envSource(options: EnvSourceOptions): ConfigSource {
  const prefix = options.prefix === "" || options.prefix.endsWith("_") ? options.prefix : `${options.prefix}_`;
  const keys = options.keys ?? "camel";
  return {
    name: `env ${prefix}*`,
    async read() {
      return envTree(options.env ?? process.env, prefix, keys);
    },
    locate(path) {
      return `env ${prefix}${path.map(envName).join("__")}`;
    },
    textAt(path) {
      return (options.env ?? process.env)[`${prefix}${path.map(envName).join("__")}`];
    },
    // NODE_ENV and NODE_OPTIONS for a service named node, USER_PORT from Kubernetes for one named user.
    holdsOthersKeys: true,
  };
}

/** The settings in `env` under `prefix`; nested variables merge into objects, the deeper winning over a plain value. */
export function envTree(
  env: Readonly<Record<string, string | undefined>>,
  prefix: string,
  keys: "camel" | "snake" = "camel",
): ConfigTree {
  const leaves = Object.keys(env)
    .filter((name) => name.startsWith(prefix) && name.length > prefix.length)
    .map((name) => ({
      segments: name
        .slice(prefix.length)
        .split("__")
        .map((part) => (keys === "camel" ? camelCase(part) : part.toLowerCase())),
      value: parseLooseValue(env[name] ?? ""),
    }))
    // APP_DATABASE____URL or a trailing __ names no key.
    .filter(({ segments }) => segments.every((segment) => segment !== ""));
  // APP_DATABASE__URL merges over APP_DATABASE='{"url":…}', whatever the order of the variables.
  return treeOfLeaves(leaves);
}

/** `READ_TIMEOUT` → `readTimeout`. */
function camelCase(part: string): string {
  return part.toLowerCase().replace(/_+([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());
}

/** `readTimeout` → `READ_TIMEOUT`, to name the variable that set a key. */
function envName(segment: string): string {
  return segment.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}
