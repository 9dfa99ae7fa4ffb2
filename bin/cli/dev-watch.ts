import { type Dirent, existsSync, type FSWatcher, readdirSync, statSync, watch } from "node:fs";
import { basename, dirname, join, relative, sep } from "node:path";

/** What watches a folder tree for `tsmicro dev`. */
export interface TreeWatch {
  close(): void;
}

/**
 * Calls `changed` with the path (relative to `root`) of each file that changes under `root`,
 * leaving out folders `ignored` names. On Linux, node's recursive fs.watch (Node 22) watches each
 * file's inode: an editor saving by renaming a copy over the file (vim, JetBrains' safe write,
 * sed -i) leaves it watching the replaced inode, and every later save of that file goes unseen.
 * There, each folder is watched instead, which names its files whatever replaced them.
 */
export function watchTree(
  root: string,
  ignored: (part: string) => boolean,
  changed: (name: string) => void,
): TreeWatch {
  if (process.platform !== "linux") {
    const watcher = watch(root, { recursive: true }, (_event, name) => {
      if (name && !name.split(/[\\/]/).some(ignored)) changed(name);
    });
    return watcher;
  }
  return new FolderWatches(root, ignored, changed);
}

/**
 * How often a removed folder (the root watched, one of imported files) is looked for again: a build that empties its
 * output folder, a branch switch or a generator makes it again, and its files are the service's.
 */
const lostFolderPollMs = 500;

/**
 * One fs.watch per folder under the root, a folder made later added when it appears. The root
 * removed (a branch switched to one without it, git stash -u) is looked for until it is back: its
 * watch would hear nothing of the folder made again, and tsmicro dev, waiting for the entry file's
 * return, would wait for ever.
 */
class FolderWatches implements TreeWatch {
  private readonly watchers = new Map<string, FSWatcher>();
  private closed = false;
  /** While the root is gone: the poll for its return. */
  private rootPoll: NodeJS.Timeout | undefined;

  constructor(
    private readonly root: string,
    private readonly ignored: (part: string) => boolean,
    private readonly changed: (name: string) => void,
  ) {
    this.add(root, false);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.rootPoll);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  /** Watches `folder` and those under it; `report` names their files, as changed: a folder moved or made after the start. */
  private add(folder: string, report: boolean): void {
    if (this.closed || this.watchers.has(folder)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(folder, (_event, name) => {
        // Read after the root's removal (rm -rf), as its files' are: each is still a change.
        if (name) this.seen(join(folder, name.toString()));
        // The root's own removal is an event too (its name), after which its watch hears nothing more.
        if (folder === this.root && !existsSync(folder)) this.rootLost();
      });
    } catch {
      // Gone again already, or not a folder.
      if (folder === this.root) this.rootLost();
      return;
    }
    // A folder removed: its watcher ends with it.
    watcher.on("error", () => (folder === this.root ? this.rootLost() : this.remove(folder)));
    this.watchers.set(folder, watcher);
    let entries: Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (this.ignored(entry.name)) continue;
      const path = join(folder, entry.name);
      if (entry.isDirectory()) this.add(path, report);
      else if (report) this.changed(relative(this.root, path));
    }
  }

  /** An event for `path`, in a watched folder: a change of a file, or a folder made, moved or removed. */
  private seen(path: string): void {
    const name = relative(this.root, path);
    if (name.split(sep).some(this.ignored)) return;
    let folder = false;
    try {
      folder = statSync(path).isDirectory();
    } catch {
      // Removed or renamed away: a folder of it is watched no more.
      this.remove(path);
    }
    if (folder) this.add(path, true);
    else this.changed(name);
  }

  /** The root is gone: once it is back it is watched again, and each file found in it is a change. */
  private rootLost(): void {
    this.remove(this.root);
    if (this.closed || this.rootPoll !== undefined) return;
    this.rootPoll = setInterval(() => {
      if (!existsSync(this.root)) return;
      clearInterval(this.rootPoll);
      this.rootPoll = undefined;
      // Written before the new watch began, so heard by none.
      this.add(this.root, true);
    }, lostFolderPollMs);
    // Not unref'd: with the watches closed it is what keeps tsmicro dev waiting for the folder.
  }

  private remove(folder: string): void {
    for (const [path, watcher] of this.watchers) {
      if (path === folder || path.startsWith(folder + sep)) {
        watcher.close();
        this.watchers.delete(path);
      }
    }
  }
}

/** A folder of files a service imports: the names followed there, and its watch, or, while it is gone, the poll for it. */
interface ImportedFolder {
  readonly names: Set<string>;
  watcher?: FSWatcher;
  poll?: NodeJS.Timeout;
}

/**
 * Calls `changed` with the path of each file added that changes: files a service imports from
 * outside the tree watched. Each is watched by its folder, which names it whatever replaced it (see
 * watchTree), one fs.watch a folder. A folder removed is looked for until it is back: its watch
 * would hear nothing of the folder made again, and the service, stopped for want of the files,
 * would wait for a save under its own folder.
 */
export class FileWatches {
  private readonly folders = new Map<string, ImportedFolder>();

  constructor(private readonly changed: (path: string) => void) {}

  add(path: string): void {
    const folder = dirname(path);
    const known = this.folders.get(folder);
    if (known) {
      known.names.add(basename(path));
      return;
    }
    const imported: ImportedFolder = { names: new Set([basename(path)]) };
    this.folders.set(folder, imported);
    this.follow(folder, imported);
  }

  close(): void {
    for (const { watcher, poll } of this.folders.values()) {
      watcher?.close();
      clearInterval(poll);
    }
    this.folders.clear();
  }

  /** Watches `folder`, or looks for it again when it is not there. */
  private follow(folder: string, imported: ImportedFolder): void {
    try {
      imported.watcher = watch(folder, (_event, name) => {
        const file = name && imported.names.has(name.toString()) ? name.toString() : undefined;
        // The folder's own removal is an event too (its name), after which its watch hears nothing more.
        if (!existsSync(folder)) return this.gone(folder, imported, file);
        if (file !== undefined) this.changed(join(folder, file));
      });
      imported.watcher.on("error", () => this.gone(folder, imported));
    } catch {
      this.lost(folder, imported);
    }
  }

  /**
   * `folder` was removed while watched: its files went with it, a change the service must restart on
   * (and fail, waiting for them), even when the events of their removal are read after the folder's
   * end, as on a busy machine.
   */
  private gone(folder: string, imported: ImportedFolder, file = [...imported.names][0]): void {
    if (imported.watcher === undefined) return;
    this.lost(folder, imported);
    if (file !== undefined) this.changed(join(folder, file));
  }

  /** `folder` is gone: once it is back it is watched again, and a followed file found there is a change. */
  private lost(folder: string, imported: ImportedFolder): void {
    imported.watcher?.close();
    imported.watcher = undefined;
    if (imported.poll !== undefined || this.folders.get(folder) !== imported) return;
    imported.poll = setInterval(() => {
      if (!existsSync(folder)) return;
      clearInterval(imported.poll);
      imported.poll = undefined;
      this.follow(folder, imported);
      // Written before the new watch began, so heard by none.
      const back = [...imported.names].find((name) => existsSync(join(folder, name)));
      if (back !== undefined) this.changed(join(folder, back));
    }, lostFolderPollMs).unref();
  }
}
