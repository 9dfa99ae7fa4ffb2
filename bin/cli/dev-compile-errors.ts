// Loaded into a service by `tsmicro dev` (node --import): a save with a mistake esbuild cannot compile
// (a missing bracket) ended the service with esbuild's stack, a dozen lines of its internals under the
// one that matters. It ends with that line instead, `src/x.ts:10:39: Expected ")" but found ";"`, and
// `tsmicro dev` then says it waits for the next save.

import { relative } from "node:path";
import { inspect } from "node:util";

/**
 * esbuild's error, as tsx's loader passes it on: tsx compiles in the loader's thread, and the error
 * crosses to this one as its name and message alone, one `FILE:LINE:COLUMN: ERROR: TEXT` line a mistake.
 */
function isTransformError(error: unknown): error is Error {
  return error instanceof Error && error.name === "TransformError";
}

/** Each mistake where it is, the file relative to the service's folder, as a compiler says it. */
function describe(error: Error): string {
  const mistakes = error.message
    .split("\n")
    .map((line) => /^(.+?):(\d+):(\d+): ERROR: (.*)$/.exec(line))
    .filter((match) => match !== null)
    .map(([, file, line, column, text]) => `${relative(process.cwd(), file!)}:${line}:${column}: ${text}`);
  return mistakes.length > 0 ? mistakes.join("\n") : error.message;
}

function onUncaught(error: unknown): void {
  // The service's own listener, if it has one, handles all else: Node calls each listener.
  if (!isTransformError(error) && process.listenerCount("uncaughtException") > 1) return;
  // Without one, an error ends the service as Node ends it for an uncaught one: printed, exit code 1.
  process.stderr.write(`${isTransformError(error) ? describe(error) : inspect(error)}\n`);
  process.exit(1);
}

process.on("uncaughtException", onUncaught);
