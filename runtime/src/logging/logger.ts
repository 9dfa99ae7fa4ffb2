import { closeSync, mkdirSync, openSync, unlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import type { DestinationStream, Logger as PinoLogger, LoggerOptions as PinoOptions } from "pino";
import { SetupError } from "../errors/setup-error.js";
import { lazyModule } from "../platform/lazy-module.js";
import { activeTraceFields } from "../tracing/active-trace-fields.js";
import type { PrettyTransportOptions } from "./pretty-transport.js";
import { redactErrorFields, redactField, redactText, redactValue } from "./redact.js";

/** pino, loaded by the first logger made: importing the runtime does not load it. */
export const pinoModule = lazyModule<typeof import("pino")>("pino");

/** Structured logging, as pino's interface: an object of fields, then a message; or a message alone. */
export interface Logger {
  trace(fields: object | string, message?: string): void;
  debug(fields: object | string, message?: string): void;
  info(fields: object | string, message?: string): void;
  warn(fields: object | string, message?: string): void;
  error(fields: object | string, message?: string): void;
  child(fields: object): Logger;
}

/** A log file, rotated by size or time through pino-roll when asked. */
export interface LogFileOptions {
  /**
   * The file's path. Rotated, the files get a number before the extension
   * (`user.1.log`, `user.2.log`, …, the highest the current one).
   */
  readonly path: string;
  /** Rotate once a file reaches this size, such as `10m` or `500k`. */
  readonly size?: string;
  /** Rotate `daily`, `hourly`, or every so many milliseconds. */
  readonly frequency?: string;
  /** Rotated files kept besides the current one; older ones are deleted. */
  readonly keep?: number;
}

/** Options of the default logger. */
export interface LoggerOptions {
  /** Printed in every line as `service`. */
  readonly service?: string;
  /** Printed in every line as `version`. */
  readonly version?: string;
  /** The node id in the registry, printed in every line as `node`. */
  readonly node?: string;
  readonly level?: string;
  /** `json` (default): one JSON object per line; `pretty`: coloured text for development, through pino-pretty. */
  readonly format?: "json" | "pretty";
  /** Writes to a rotated file instead of stdout. */
  readonly file?: LogFileOptions;
  /** Fields added to each line when it is written; the trace and span ids of the call being served always are. */
  readonly mixin?: () => object | undefined;
  /** Where lines go instead of stdout, for tests and embedding. */
  readonly destination?: DestinationStream;
}

/**
 * The default logger: pino, JSON lines on stdout for any collector to ship.
 * Secrets never reach a line: values under keys named like credentials
 * (`authorization`, `password`, `token`, `secret`…), JWTs and bearer
 * credentials anywhere are replaced by `[redacted]`. Throws a SetupError when
 * `pretty` is asked for without pino-pretty installed, or when the log file
 * cannot be opened.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { pino } = pinoModule();
  const { mixin } = options;
  // Every line of a traced call carries its trace_id and span_id, whoever logs it.
  const settings: PinoOptions = {
    level: options.level ?? "info",
    base: baseFields(options),
    formatters: {
      log: redactFields,
      bindings: redactFields,
    },
    serializers: {
      msg: (message: unknown) => (typeof message === "string" ? redactText(message) : message),
      err: (error: unknown) =>
        error instanceof Error
          ? redactErrorFields(withoutObjects(pino.stdSerializers.err(error) as unknown as Record<string, unknown>))
          : redactValue(error),
    },
    mixin: mixin ? () => ({ ...activeTraceFields(), ...mixin() }) : () => activeTraceFields() ?? {},
  };
  const stream = options.destination ?? destination(options);
  const logger = redactChildBindings(stream ? pino(settings, stream) : pino(settings));
  if (!options.destination && !options.file) onStdout.set(logger, options.format === "pretty");
  return logger;
}

/**
 * An error's serialized fields without the objects a library hangs on it (pg's Client, a socket,
 * a request): their internals are pages of text and say nothing of what failed. Plain objects and
 * arrays stay, as do the causes pino has serialized already.
 */
function withoutObjects(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => !isLibraryObject(value)));
}

function isLibraryObject(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype !== Object.prototype && prototype !== null;
}

/** Loggers that write to this process's stdout, each with whether it prints pretty text (`--log_format pretty`). */
const onStdout = new WeakMap<Logger, boolean>();

/**
 * Whether `logger`'s lines go to a person rather than a collector: pretty
 * text on stdout, or JSON on a stdout that is a terminal (a service or
 * `tsmicro api` started by hand), where nothing collects them.
 */
export function writesForPeople(logger: Logger): boolean {
  const pretty = onStdout.get(logger);
  return pretty === true || (pretty === false && process.stdout.isTTY === true);
}

/** Fields of a line, redacted; an `err` stays an Error for its serializer, which redacts it. */
function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields))
    copy[key] = value instanceof Error ? value : redactField(key, value);
  return copy;
}

/** pino renders a child's fields once, past the formatters: redact them on the way in, for children of children too. */
function redactChildBindings(root: PinoLogger): PinoLogger {
  const child = root.child;
  root.child = function (this: PinoLogger, bindings, childOptions) {
    return child.call(this, redactValue(bindings) as typeof bindings, childOptions);
  } as typeof child;
  return root;
}

/**
 * Writes out the lines `logger` has handed to a worker thread (pretty text, a file) and waits
 * for them, so a line printed next on stderr comes after them; nothing for other loggers.
 */
export function flushLogSync(logger: Logger): void {
  // Only pino's loggers flush; one of the caller's own is left as it is.
  if (typeof (logger as { flush?: unknown }).flush !== "function") return;
  const stream = (logger as unknown as Record<symbol, { flushSync?: () => void } | undefined>)[
    pinoModule().pino.symbols.streamSym
  ];
  try {
    stream?.flushSync?.();
  } catch {
    // A worker already gone has nothing more to write.
  }
}

/** A logger that drops everything, for tests and tools. */
export function silentLogger(): Logger {
  return pinoModule().pino({ level: "silent" });
}

function baseFields(options: LoggerOptions): Record<string, string> {
  const fields: Record<string, string> = {};
  if (options.service) fields.service = options.service;
  if (options.version) fields.version = options.version;
  if (options.node) fields.node = options.node;
  return fields;
}

/** A rotated file or pino-pretty, each written from a worker thread; undefined for pino's own stdout. */
function destination(options: LoggerOptions): DestinationStream | undefined {
  if (options.file) {
    const { path, size, frequency, keep } = options.file;
    const rotated = Boolean(size || frequency);
    checkLogFile(path, rotated);
    // Not rotated: the very file named (pino-roll would number it).
    const stream = rotated
      ? pinoModule().pino.transport({
          target: resolvePackage("pino-roll", "log rotation (--log_rotate_size, --log_rotate_frequency)"),
          options: {
            file: path,
            mkdir: true,
            ...(size ? { size } : {}),
            ...(frequency ? { frequency: /^\d+$/.test(frequency) ? Number(frequency) : frequency } : {}),
            ...(keep === undefined ? {} : { limit: { count: keep } }),
          },
        })
      : pinoModule().pino.transport({ target: "pino/file", options: { destination: path, mkdir: true } });
    warnOnceWhenUnwritable(stream, path, options.service);
    return stream;
  }
  if (options.format === "pretty") {
    const prettyPath = resolvePackage(
      "pino-pretty",
      "the pretty log format (--log_format pretty, or TSMICRO_LOG_FORMAT=pretty)",
    );
    // pino-pretty, through a transport of ours that keeps a caller's `name` (and `pid`…) among the fields.
    // One line an entry, its fields at the end, as go-micro's logs read: not a line a field.
    const prettyOptions: PrettyTransportOptions = {
      prettyPath,
      colorize: process.stdout.isTTY === true,
      translateTime: "SYS:HH:MM:ss.l",
      singleLine: true,
    };
    return pinoModule().pino.transport({ target: prettyTransportPath(), options: prettyOptions });
  }
  return undefined;
}

/**
 * Refuses a log file that cannot be opened, before a worker thread finds out and crashes the
 * process: its folder is created when missing (as `mkdir -p`), then the file is opened for
 * appending; a rotated file's folder is checked by creating and removing a file in it, as
 * pino-roll names its files itself (`user.1.log`).
 */
function checkLogFile(path: string, rotated: boolean): void {
  const folder = dirname(resolve(path));
  try {
    mkdirSync(folder, { recursive: true });
  } catch (error) {
    throw new SetupError("TSM_ERR_LOG_FILE", path, `its folder ${folder} cannot be created (${reasonOf(error)})`);
  }
  const probe = rotated ? join(folder, `.${basename(path)}.${process.pid}.probe`) : path;
  try {
    closeSync(openSync(probe, rotated ? "wx" : "a"));
    if (rotated) unlinkSync(probe);
  } catch (error) {
    throw new SetupError("TSM_ERR_LOG_FILE", path, reasonOf(error));
  }
}

/** A file system error's code and words, without the path the message names already: `EACCES: permission denied`. */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/, \w+ '[^']*'$/, "");
}

/**
 * A log file that stops taking lines while running (disk full, its folder gone at a rotation)
 * is said once on stderr rather than left as an unhandled 'error' that ends the process: the
 * service keeps serving, and its lines are lost until it restarts.
 */
function warnOnceWhenUnwritable(stream: DestinationStream, path: string, service: string | undefined): void {
  let warned = false;
  (stream as unknown as NodeJS.EventEmitter).on("error", (error: unknown) => {
    if (warned) return;
    warned = true;
    process.stderr.write(
      `${service ?? "tsmicro"}: the log file ${path} (--log_file) cannot be written (${reasonOf(error)}); ` +
        "the lines logged from now on are lost: free space or fix its folder, then restart the service\n",
    );
  });
}

/**
 * The built `pretty-transport.js`, which pino loads in its worker: under the runtime package's
 * dist/, found from its package.json, as bundling leaves this module's own place open.
 */
function prettyTransportPath(): string {
  const manifest = createRequire(import.meta.url).resolve("@tsmicro/runtime/package.json");
  return join(dirname(manifest), "dist", "logging", "pretty-transport.js");
}

/**
 * The path of a transport package, resolved from the runtime and from the
 * program (a project's dev dependency such as pino-pretty lives there).
 * Exported for tests.
 */
export function resolvePackage(name: string, wantedBy: string): string {
  for (const from of [import.meta.url, `${process.cwd()}/`]) {
    try {
      return createRequire(from).resolve(name);
    } catch {
      // Try the next place.
    }
  }
  throw new SetupError("TSM_ERR_LOG_PACKAGE", wantedBy, name, name);
}
