/** An in-memory configuration layer that tests (and embedding code) change by hand. */
import type { ConfigSource, ConfigTree, ConfigValue, SourceEvents } from "./config.js";
import { splitPath, treeAt } from "./key-paths.js";
import { mergeTrees } from "./merge-layers.js";

/** A configuration source held in memory; `set` and `put` reach the running configuration's watchers. */
export interface MemorySource extends ConfigSource {
  /** Replaces the whole tree. */
  set(tree: ConfigTree): void;
  /** Sets the value at a dotted path, such as `put("database.url", "postgres://…")`. */
  put(path: string, value: ConfigValue): void;
}

/** A layer in memory, starting with `initial`, for tests of code that reads and watches configuration. */
export function createMemorySource(initial: ConfigTree = {}, name = "memory"): MemorySource {
  let tree = initial;
  const listeners = new Set<SourceEvents>();
  const set = (next: ConfigTree) => {
    tree = next;
    for (const listener of listeners) listener.changed(tree);
  };
  return {
    name,
    async read() {
      return tree;
    },
    async watch(events) {
      listeners.add(events);
      return {
        initial: tree,
        async close() {
          listeners.delete(events);
        },
      };
    },
    set,
    put(path, value) {
      set(mergeTrees(tree, treeAt(splitPath(path), value)));
    },
  };
}
