/**
 * The transport behind `--log_format pretty`, which pino runs in a worker thread: pino-pretty's
 * text, one line an entry. pino-pretty reads some keys as a logger's own metadata (`name` becomes
 * `INFO (ann):`, `pid` and `hostname` join it, `timestamp` is dropped) and leaves them out of the
 * fields. tsmicro's logger sets none of them, so there they are the caller's fields (a user's
 * `name`): this prints them among the other fields, as JSON logs have them.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { pipeline, Transform, type Writable } from "node:stream";

/** pino-pretty's options, and the path of pino-pretty (often a project's dev dependency) that the logger resolved. */
export interface PrettyTransportOptions {
  readonly prettyPath: string;
  readonly [option: string]: unknown;
}

/** The keys pino-pretty takes for a logger's metadata (its LOGGER_KEYS) that pino, as tsmicro sets it up, never writes. */
const callerKeys = ["name", "pid", "hostname", "caller", "timestamp"];
const mentionsCallerKey = new RegExp(`"(?:${callerKeys.join("|")})":`);

type AbstractTransport = (
  build: (source: NodeJS.ReadableStream) => Transform,
  options: { parse: "lines"; close(error: Error | null, done: (error: Error | null) => void): void },
) => unknown;
type SonicBoom = Writable & { write(text: string): boolean; end(): void };

/** pino-pretty's stream, as its own `build` makes it, but with the caller's fields kept among the fields. */
export default function prettyTransport({ prettyPath, ...options }: PrettyTransportOptions): unknown {
  // pino-pretty's own helpers, from where pino-pretty is installed.
  const require = createRequire(prettyPath);
  const { prettyFactory } = require(prettyPath) as { prettyFactory(options: object): (log: unknown) => string };
  const abstractTransport = require("pino-abstract-transport") as AbstractTransport;
  const SonicBoomClass = require("sonic-boom") as new (options: object) => SonicBoom;
  const pretty = prettyFactory(options);
  // While pino-pretty prints, a caller's key goes by a name no one logs, then takes its own back.
  const mark = `~${randomUUID()}`;
  const prettyLine = (line: string): string => {
    if (!mentionsCallerKey.test(line)) return pretty(line);
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      return pretty(line);
    }
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return pretty(line);
    const renamed = Object.entries(entry).map(([key, value]) => [callerKeys.includes(key) ? key + mark : key, value]);
    return pretty(Object.fromEntries(renamed)).replaceAll(`${mark}":`, '":');
  };
  // Written as the worker gets it (sync), so a flush from the service (flushLogSync) has put every line out.
  const destination = new SonicBoomClass({ dest: 1, sync: true });
  destination.on("error", (error: NodeJS.ErrnoException) => {
    // A reader gone (`| head`): the rest is not wanted, as pino-pretty does.
    if (error.code === "EPIPE") destination.write = () => true;
  });
  return abstractTransport(
    (source) => {
      // A line that is not JSON goes out as it came, as pino-pretty has it.
      source.on("unknown", (line: string) => destination.write(`${line}\n`));
      const stream = new Transform({
        objectMode: true,
        autoDestroy: true,
        transform(line: string, _encoding, done) {
          done(null, prettyLine(line));
        },
      });
      pipeline(source, stream, destination, () => {});
      return stream;
    },
    {
      parse: "lines",
      close(error, done) {
        destination.on("close", () => done(error));
      },
    },
  );
}
