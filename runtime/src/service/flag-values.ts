import { nodeUtil } from "../platform/node-builtins.js";
import { SetupError } from "../errors/setup-error.js";
import { closestName } from "../errors/closest-name.js";

/** Parses one flag's value; `source` names the flag or variable for errors. */
export type FlagParser<T> = (value: string, source: string) => T;

/**
 * Reads go-micro style settings: each flag `name` also comes from the
 * variables `MICRO_<NAME>` and `TSMICRO_<NAME>`. Variables are read first,
 * then flags, and `merge` lays each value over what came before, so flags
 * win over `TSMICRO_*`, which wins over `MICRO_*`. Flags the table does not
 * name are left for the program.
 */
export function readFlags<T>(
  flags: Readonly<Record<string, FlagParser<T>>>,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  initial: T,
  merge: (base: T, over: T) => T,
): T {
  let settings = initial;
  for (const prefix of ["MICRO_", "TSMICRO_"]) {
    for (const [name, parse] of Object.entries(flags)) {
      const variable = `${prefix}${name.toUpperCase()}`;
      const value = env[variable];
      if (value !== undefined && value !== "") settings = merge(settings, parse(value, variable));
    }
  }
  const { values, tokens } = nodeUtil().parseArgs({
    args: [...args],
    options: Object.fromEntries(Object.keys(flags).map((name) => [name, { type: "string" as const }])),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  // parseArgs takes the next word as the value even when it is another flag (`--log_file --log_level=debug`).
  for (const token of tokens) {
    if (token.kind === "option" && token.inlineValue === false && !isFlagValue(token.value ?? ""))
      throw missingValue(`--${token.name}`);
  }
  for (const [name, parse] of Object.entries(flags)) {
    const value = values[name];
    if (value === true) throw missingValue(`--${name}`);
    if (typeof value === "string") settings = merge(settings, parse(value, `--${name}`));
  }
  return settings;
}

/**
 * Whether `word`, after a flag written without `=`, can be its value: not
 * when it is a flag itself (or `--`), though a negative number (`-1`) and a
 * lone `-` (standard output, `--log_file -`) are.
 */
export function isFlagValue(word: string): boolean {
  return !word.startsWith("-") || word === "-" || /^-\d/.test(word);
}

/** The SetupError of a flag given no value (`--registry` alone, or before another flag). */
export function missingValue(flag: string): SetupError {
  return new SetupError("TSM_ERR_FLAG", flag, "(none)", `give it a value, as ${flag}=VALUE`);
}

/** The gateway's flags a service takes under another name: `--address` is a service's `--server_address`. */
const spelledOtherwise: Readonly<Record<string, string>> = { address: "server_address" };

/**
 * Refuses a flag that is not one of `known` but is a slip away from one
 * (`--adress` for `--address`, `--registry-address` for
 * `--registry_address`): read as the program's own flag, it would be
 * ignored and the service would run on defaults. Flags far from every
 * known name stay the program's to read, unless `program` names a command
 * whose flags are all known (`tsmicro api`): then any other is refused.
 * With `serves` (a service or web service), the gateway's `--address` is
 * refused too, pointing to `--server_address`.
 */
export function checkFlagSpelling(
  args: readonly string[],
  known: Iterable<string>,
  program?: string,
  options: { readonly serves?: boolean } = {},
): void {
  const names = new Set(known);
  // A server (service, web service) refuses the gateway's flags it spells otherwise, which users carry over.
  const borrowed = options.serves
    ? Object.keys(spelledOtherwise).filter((name) => !names.has(name) && names.has(spelledOtherwise[name]!))
    : [];
  for (const arg of args) {
    if (arg === "--") return;
    const name = /^--?([^=]+)/.exec(arg)?.[1];
    if (name === undefined || names.has(name)) continue;
    const meant = closestName(name, [...names, ...borrowed]);
    const flag = arg.split("=")[0]!;
    const own = meant === undefined ? undefined : (spelledOtherwise[meant] ?? meant);
    if (meant !== undefined && own !== meant && !names.has(meant))
      throw new SetupError("TSM_ERR_FLAG_UNKNOWN", flag, `did you mean --${own}? (--${meant} is tsmicro api's)`);
    if (meant !== undefined) throw new SetupError("TSM_ERR_FLAG_UNKNOWN", flag, `did you mean --${meant}?`);
    if (program !== undefined)
      throw new SetupError("TSM_ERR_FLAG_UNKNOWN", flag, `${program} has no such flag; see ${program} --help`);
  }
}

/** A whole number at least `min`. */
export function count(value: string, source: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), `expected a whole number >= ${min}`);
  }
  return n;
}

/** `on`/`true`/`1` or `off`/`false`/`0`. */
export function onOff(value: string, source: string): boolean {
  const v = value.toLowerCase();
  if (["on", "true", "1"].includes(v)) return true;
  if (["off", "false", "0"].includes(v)) return false;
  throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), "use on or off");
}

/** One of `allowed`, case-insensitive, returned in lower case. */
export function oneOf(value: string, source: string, allowed: readonly string[]): string {
  const v = value.toLowerCase();
  if (!allowed.includes(v))
    throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), `use one of ${allowed.join(", ")}`);
  return v;
}

/** A percentage in (0, max], with or without `%`; `what` says what it is a percentage of. */
export function percent(value: string, source: string, max: number, what: string): number {
  const n = Number(value.trim().replace(/%$/, ""));
  if (!(n > 0 && n <= max)) {
    throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), `expected ${what} in (0, ${max}], such as 50`);
  }
  return n;
}

const units: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Milliseconds from `500ms`, `5s`, `1m`, `1h`. A bare number is in
 * `bareUnitMs` (seconds for go-micro's flags); without it, a unit is
 * required (for delays, where a bare number read as seconds is never meant).
 */
export function duration(value: string, source: string, bareUnitMs?: number): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match || (match[2] === undefined && bareUnitMs === undefined)) {
    const bare = bareUnitMs === undefined ? "" : " (a bare number is seconds)";
    throw new SetupError(
      "TSM_ERR_FLAG",
      source,
      JSON.stringify(value),
      `expected a duration such as 500ms, 5s or 1m${bare}`,
    );
  }
  return Number(match[1]) * (match[2] ? units[match[2]]! : bareUnitMs!);
}

const byteUnits: Readonly<Record<string, number>> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * A size in bytes from `4194304`, `512KiB`, `4MB`, `1g` (units are powers of
 * 1024, as gRPC's "4 MB" default is); `unlimited` (or -1) for no limit, as -1.
 */
export function byteSize(value: string, source: string): number {
  const v = value.trim().toLowerCase();
  if (v === "unlimited" || v === "-1") return -1;
  const match = /^(\d+)\s*([bkmg]?)(?:i?b)?$/.exec(v);
  if (!match) {
    throw new SetupError(
      "TSM_ERR_FLAG",
      source,
      JSON.stringify(value),
      "expected a size such as 4MB, 512KB or 1048576, or unlimited",
    );
  }
  return Number(match[1]) * byteUnits[match[2]!]!;
}

/**
 * What `--help` says of one flag, kept beside the table that parses it so
 * none goes undescribed: urfave/cli's Usage, default and EnvVars.
 */
export interface FlagUsage {
  /** What the flag does, in a user's words, with the values it takes. */
  readonly usage: string;
  /** Its value when given nowhere, written as the flag takes it; absent when there is none to state. */
  readonly default?: string;
  /** Variables it also reads, below `MICRO_<NAME>` (`DATABASE_URL`, `OTEL_*`). */
  readonly alsoFrom?: readonly string[];
}

/** `ms` as a duration flag takes it (`2h`, `10s`, `500ms`), for a default in `--help`. */
export function durationText(ms: number): string {
  const [name, size] = Object.entries(units)
    .toReversed()
    .find(([, size]) => ms !== 0 && ms % size === 0) ?? ["ms", 1];
  return `${ms / size}${name}`;
}

/** `bytes` as a size flag takes it (`4MB`, `512KB`, `unlimited` for -1), for a default in `--help`. */
export function sizeText(bytes: number): string {
  if (bytes === -1) return "unlimited";
  const [name, size] = Object.entries(byteUnits)
    .filter(([name]) => name.length === 1)
    .toReversed()
    .find(([, size]) => bytes !== 0 && bytes % size === 0) ?? ["", 1];
  return name === "" || name === "b" ? String(bytes) : `${bytes / size}${name.toUpperCase()}B`;
}
