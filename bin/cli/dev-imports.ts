// Loaded into a service by `tsmicro dev` (node --import), last: tsmicro dev watches the entry's folder,
// and a file the service imports from elsewhere (a folder beside src/, a workspace's shared code) would
// not restart it when it changes, as it did under tsx watch, which followed the imports. Each file the
// service loads, outside node_modules, is named to tsmicro dev, a line on the pipe it gave as fd 3.

import module from "node:module";
import { statSync, writeSync } from "node:fs";

/**
 * The pipe to tsmicro dev, fd 3 as it spawned the service; none in a process the service starts
 * itself with this file loaded (fork() passes --import on): there fd 3 is something else, fork's
 * IPC channel, which a line of ours would break. tsmicro dev names itself in TSMICRO_DEV_PARENT,
 * and only its own child, or the child's worker threads, has it as parent.
 */
const toDev = process.env["TSMICRO_DEV_PARENT"] === String(process.ppid) ? 3 : undefined;

const named = new Set<string>();

/**
 * Names `url` to tsmicro dev once, a module's own file where it is not a package's, with its
 * modification time as the service reads it: a write after it (a watch build of shared code, as the
 * service loads it) is one tsmicro dev, watching the file only from its line on, would not hear.
 */
function name(url: string): void {
  if (toDev === undefined || !url.startsWith("file:") || url.includes("/node_modules/") || named.has(url)) return;
  named.add(url);
  try {
    writeSync(toDev, `${url} ${modifiedAt(url)}\n`);
  } catch {
    // tsmicro dev has ended: the service stops by itself (dev-parent-watch), and nothing watches any more.
  }
}

/** The file's modification time in ms, or "" when it cannot be read. */
function modifiedAt(url: string): string {
  try {
    return String(statSync(new URL(url)).mtimeMs);
  } catch {
    return "";
  }
}

// Node 22.15 has registerHooks, as engines asks; one without it runs the service unwatched beyond its folder.
// A process with no pipe to name files on resolves without the hook.
if (toDev !== undefined)
  module.registerHooks?.({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      name(resolved.url);
      return resolved;
    },
  });
