import type { MethodDefinition } from "../definition/definition.js";

/**
 * Client options given per method (hedging, attempt timeouts): keyed by
 * `service/Method` (the registered service name and the method's proto
 * name, such as `greeter/SayHello`) or by the gRPC path
 * (`/greeter.v1.Greeter/SayHello`).
 */
export type ByMethod<T> = Readonly<Record<string, T>>;

/** The option `options` holds for `method` of the registered service `service`, with the key it is under. */
export function optionOf<T>(
  options: ByMethod<T> | undefined,
  service: string,
  method: MethodDefinition,
): { readonly key: string; readonly value: T } | undefined {
  if (!options) return undefined;
  const short = `${service}/${method.name}`;
  if (options[short] !== undefined) return { key: short, value: options[short] };
  const value = options[method.path];
  return value === undefined ? undefined : { key: method.path, value };
}
