/** Fixed values as the lowest configuration layer. */
import type { ConfigSource, ConfigTree } from "./config.js";

/** A layer of fixed values, usually the first so every other source overrides it. */
export function defaultsSource(values: ConfigTree): ConfigSource {
  return {
    name: "defaults",
    async read() {
      return values;
    },
  };
}
