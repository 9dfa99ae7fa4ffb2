/**
 * Merges configuration layers, later winning, as go-micro's config does:
 * objects merge key by key; any other value (a string, a number, a list)
 * replaces what was there. Each path remembers the layer that set it last,
 * so a validation error can say where a bad value came from.
 */
import type { ConfigSource, ConfigTree, ConfigValue } from "./config.js";
import { isConfigTree, treeAt } from "./key-paths.js";

/** One source's values, in merge order. */
export interface Layer {
  readonly source: Pick<ConfigSource, "name" | "locate" | "textAt" | "holdsOthersKeys">;
  readonly tree: ConfigTree;
}

/** The merged tree and, for each dotted path set, the layer that set it last. */
export interface MergedLayers {
  readonly tree: ConfigTree;
  readonly origins: ReadonlyMap<string, Layer>;
}

/** Merges `layers` in order, later winning. Inputs are never changed. */
export function mergeLayers(layers: readonly Layer[]): MergedLayers {
  const origins = new Map<string, Layer>();
  let tree: ConfigTree = {};
  for (const layer of layers) tree = mergeTree(tree, layer.tree, [], layer, origins);
  return { tree, origins };
}

/** Deep-merges two trees; exported for sources that assemble a tree from many keys. */
export function mergeTrees(base: ConfigTree, over: ConfigTree): ConfigTree {
  return mergeTree(base, over, [], undefined, new Map());
}

/**
 * The tree of many keyed values (environment variables, etcd keys): shallower
 * paths first, so `database/url` merges over a `database` holding an object,
 * and a deeper key wins over a plain value at its parent.
 */
export function treeOfLeaves(
  leaves: Iterable<{ readonly segments: readonly string[]; readonly value: ConfigValue }>,
): ConfigTree {
  const sorted = [...leaves].sort(
    (a, b) => a.segments.length - b.segments.length || a.segments.join("/").localeCompare(b.segments.join("/")),
  );
  let tree: ConfigTree = {};
  for (const { segments, value } of sorted) if (segments.length > 0) tree = mergeTrees(tree, treeAt(segments, value));
  return tree;
}

function mergeTree(
  base: ConfigTree,
  over: ConfigTree,
  prefix: readonly string[],
  layer: Layer | undefined,
  origins: Map<string, Layer>,
): ConfigTree {
  const merged: Record<string, ConfigValue> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const path = [...prefix, key];
    if (layer) origins.set(path.join("."), layer);
    const existing = merged[key];
    merged[key] =
      isConfigTree(existing) && isConfigTree(value)
        ? mergeTree(existing, value, path, layer, origins)
        : markAll(value, path, layer, origins);
  }
  return merged;
}

/** A value replacing whatever was at `path`: every path inside it now comes from `layer`. */
function markAll(
  value: ConfigValue,
  path: readonly string[],
  layer: Layer | undefined,
  origins: Map<string, Layer>,
): ConfigValue {
  if (layer && isConfigTree(value)) {
    for (const [key, inner] of Object.entries(value)) {
      origins.set([...path, key].join("."), layer);
      markAll(inner, [...path, key], layer, origins);
    }
  }
  return value;
}
