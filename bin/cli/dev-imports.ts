// Loaded into a service by `tsmicro dev` (node --import), last: tsmicro dev watches the entry's folder,
// and a file the service imports from elsewhere (a folder beside src/, a workspace's shared code) would
// not restart it when it changes, as it did under tsx watch, which followed the imports. Each file the
// service loads, outside node_modules, is named to tsmicro dev, a line on the pipe it gave as fd 3.

import module from "node:module";
import { writeSync } from "node:fs";

/** The pipe to tsmicro dev, as it spawned the service. */
const toDev = 3;

const named = new Set<string>();

/** Names `url` to tsmicro dev once: a module's own file, where it is not a package's. */
function name(url: string): void {
  if (!url.startsWith("file:") || url.includes("/node_modules/") || named.has(url)) return;
  named.add(url);
  try {
    writeSync(toDev, `${url}\n`);
  } catch {
    // tsmicro dev has ended: the service stops by itself (dev-parent-watch), and nothing watches any more.
  }
}

// Node 22.15 has registerHooks, as engines asks; one without it runs the service unwatched beyond its folder.
module.registerHooks?.({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    name(resolved.url);
    return resolved;
  },
});
