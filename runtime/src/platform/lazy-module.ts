import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);

/**
 * A package the runtime depends on, loaded when first used rather than when
 * the runtime is imported: `import.meta.resolve` finds the file an import
 * would load (the ES build of a dual package, so the instance is the one an
 * import gets) and require loads it, synchronously, so factories that are
 * not async stay as they are. Later calls are a require cache hit.
 */
export function loadModule<T>(specifier: string): T {
  return require(fileURLToPath(import.meta.resolve(specifier))) as T;
}

/** `loadModule(specifier)` as a getter that loads once, for modules used on every call. */
export function lazyModule<T>(specifier: string): () => T {
  return lazily(() => loadModule<T>(specifier));
}

/** `make()` as a getter that makes it once, on first use (a class built on a module loaded lazily). */
export function lazily<T>(make: () => T): () => T {
  let made: T | undefined;
  return () => {
    made ??= make();
    return made;
  };
}
