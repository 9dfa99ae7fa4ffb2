import type { EventEmitter } from "node:events";

/**
 * Resolves when a stream that refused a write takes more: on `drain`, or when it closes (or
 * already has), after which no `drain` would ever come.
 */
export function writable(stream: EventEmitter & { readonly destroyed?: boolean }): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}
