import type { ReadResponse } from "../../gen/config/v1/config.js";
import type { ConfigServiceHandler } from "../../gen/config/v1/config.micro.js";
import type { Dependencies } from "../dependencies.js";
import { settingsAt, settingsAtOrNull } from "../settings-at.js";

/**
 * rpc config.v1.ConfigService/Watch: the settings under a path now, then
 * again after each accepted change that alters them (null once a change
 * removes them), until the caller cancels (or the service stops).
 */
export function watch(deps: Dependencies): ConfigServiceHandler["watch"] {
  return async function* (request, context) {
    const { settings } = deps;
    let current = JSON.stringify(settingsAt(settings.get(), request.path));
    yield { path: request.path, value: JSON.parse(current) };
    const changes: ReadResponse[] = [];
    let wake: (() => void) | undefined;
    const unwatch = settings.watch((all) => {
      const next = JSON.stringify(settingsAtOrNull(all, request.path));
      if (next === current) return;
      current = next;
      changes.push({ path: request.path, value: JSON.parse(next) });
      wake?.();
    });
    const cancelled = () => wake?.();
    context.signal.addEventListener("abort", cancelled);
    try {
      while (!context.signal.aborted) {
        const change = changes.shift();
        if (change) yield change;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      unwatch();
      context.signal.removeEventListener("abort", cancelled);
    }
  };
}
