// Preloaded with --import: records every module the process resolves (ES imports and require
// both, through a synchronous resolve hook) and node's own modules, and writes them as JSON to
// the file TSMICRO_LOADS_OUT names when the process exits.
import { writeFileSync } from "node:fs";
import { registerHooks } from "node:module";

const urls = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    urls.add(result.url);
    return result;
  },
});
process.on("exit", () => {
  writeFileSync(process.env.TSMICRO_LOADS_OUT, JSON.stringify({ urls: [...urls], builtins: process.moduleLoadList }));
});
