/**
 * The local registry, tsmicro's default: processes on one machine share a
 * folder instead of a server. Each node is one JSON file,
 * `<dir>/<service>/<node-id>.json`, holding the service record, the node and
 * `expiresAt` and the process that wrote it; a heartbeat rewrites it, a
 * deregister deletes it, and a node whose process died without deregistering
 * (`kill -9`, a crash) is dropped by the next reader that sees the process
 * gone, or else expires.
 */
import { randomBytes } from "node:crypto";
import type { FSWatcher } from "node:fs";
import { nodeFs } from "../platform/node-builtins.js";
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { SetupError } from "../errors/setup-error.js";
import { silentLogger, type Logger } from "../logging/logger.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import {
  diffSnapshots,
  entriesOf,
  entryKey,
  nameProblem,
  servicesOf,
  type RegistryEntry,
  type ServiceRecord,
} from "./registry-entries.js";
import type { Endpoint, Node, RegisterOptions, Registry, Service, Watcher, WatchOptions } from "./registry.js";
import { createWatcherFeed, type WatcherFeed } from "./watcher-feed.js";
import { timerDelay } from "../platform/timer-delay.js";
import { parseWriterProcess, WriterChecks, type WriterProcess } from "./writer-process.js";

/** Options of the local registry. */
export interface LocalRegistryOptions {
  /** The folder processes share; default `defaultLocalRegistryDir()`. Processes see each other only through the same folder. */
  readonly dir?: string;
  /** How often watchers rescan the folder besides filesystem notifications, which are only hints. Default 500. */
  readonly pollIntervalMs?: number;
  /** Hears when the folder, or a service's folder in it, was removed under a registered node. Default: silent. */
  readonly logger?: Logger;
}

const defaults = { pollIntervalMs: 500 } as const;

/** A burst of filesystem notifications (temp file, write, rename) becomes one scan this long after the first. */
const notificationDelayMs = 20;

/** A node's entry as its file holds it: with the process that wrote it, when that process could say. */
interface LocalEntry extends RegistryEntry {
  readonly process?: WriterProcess;
}

/** Whether the process that wrote an entry is certainly gone (see WriterChecks). */
type WriterGone = (writer: WriterProcess | undefined) => Promise<boolean>;

/**
 * Where the local registry lives unless told otherwise:
 * `$XDG_RUNTIME_DIR/tsmicro-<uid>/registry`, or under the OS temp folder.
 * Per user, so one user's services never see (or trust) another's.
 */
export function defaultLocalRegistryDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env["XDG_RUNTIME_DIR"] || tmpdir(), `tsmicro-${currentUid()}`, "registry");
}

/**
 * A registry shared by the processes of one machine through a folder: no
 * server to run, nothing leaves the machine. Writes are atomic (temp file
 * and rename), so readers never see half a record. Watchers rescan the
 * folder on filesystem notifications and on a poll, scheduled early enough
 * to report a dead process's node when it expires; they report the
 * difference between scans, so changes quicker than a scan arrive merged.
 * Each entry names the process that wrote it: where this process can check
 * it (Linux, the same boot and pid namespace) an entry whose process is gone
 * counts as expired, and its file is removed; a lookup trusts a check for a
 * poll interval, a watch's scan checks afresh, so a killed process's node
 * leaves within a poll, not a TTL.
 * What this registry reads for getService or listServices counts as a scan
 * of what it read: a watch never lags behind what its own process has seen,
 * so a node seen by a read and gone before the next scan is reported leaving.
 * Watchers never keep the process alive by themselves. A folder removed
 * under running services (by hand, or a cleaner of XDG_RUNTIME_DIR) is made
 * again by the next heartbeat, which says so in the log once: until then the
 * watchers report its nodes gone, and then back, as each process's
 * heartbeat writes its node again. A notification watch of a removed folder
 * falls silent for good, so watchers watch a folder made again afresh, and
 * the folder above while it is missing, to hear of it at once.
 */
class LocalRegistry implements Registry {
  readonly kind = "local";
  readonly #dir: string;
  readonly #isDefaultDir: boolean;
  readonly #pollIntervalMs: number;
  readonly #logger: Logger;
  /** The services this registry has registered a node of: their folder made again means it was removed. */
  readonly #registered = new Set<string>();
  readonly #watches = new Set<FolderWatch>();
  /** Numbers the reads of the folder in the order they start, so an older read never undoes a newer one. */
  readonly #reads: ReadCounter = { started: 0 };
  readonly #writers = new WriterChecks();

  constructor(options: LocalRegistryOptions) {
    this.#dir = options.dir ?? defaultLocalRegistryDir();
    this.#isDefaultDir = options.dir === undefined;
    this.#pollIntervalMs = options.pollIntervalMs ?? defaults.pollIntervalMs;
    this.#logger = options.logger ?? silentLogger();
  }

  async start(): Promise<void> {
    const dir = this.#dir;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if (this.#isDefaultDir) await checkOwnFolder(join(dir, ".."));
      // Writing is the only honest test: permissions, read-only mounts and full disks all show here.
      const probe = join(dir, `.probe-${randomBytes(8).toString("hex")}.tmp`);
      await writeFile(probe, "", { mode: 0o600, flag: "wx" });
      await unlink(probe);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // mkdir says EEXIST of a file where the folder goes, ENOTDIR of a file above it: Node's words for either mislead.
      if (code === "EEXIST" || code === "ENOTDIR")
        throw new SetupError(
          "TSM_ERR_REGISTRY_UNREACHABLE",
          "local",
          dir,
          code === "EEXIST" ? "it is a file, not a folder" : "a part of its path is a file, not a folder",
          "pass --registry_address with a folder (made if missing)",
        );
      throw new SetupError(
        "TSM_ERR_REGISTRY_UNREACHABLE",
        "local",
        dir,
        messageOf(error),
        "make the folder writable by this user, or pass --registry_address with another folder",
      );
    }
  }

  async stop(): Promise<void> {
    for (const watch of [...this.#watches]) watch.stop();
  }

  async register(service: Service, registerOptions: RegisterOptions): Promise<void> {
    const writer = await this.#writers.own();
    const entries: LocalEntry[] = entriesOf(service, registerOptions, Date.now()).map((entry) =>
      writer === undefined ? entry : { ...entry, process: writer },
    );
    await this.#watchesReady();
    const folder = join(this.#dir, service.name);
    try {
      const made = await mkdir(folder, { recursive: true, mode: 0o700 });
      await Promise.all(
        entries.map((entry) => writeAtomically(folder, `${entry.node.id}.json`, `${JSON.stringify(entry)}\n`)),
      );
      if (made !== undefined) this.#madeAgain(made, service);
      this.#registered.add(service.name);
    } catch (error) {
      throw this.#unavailable(`registering ${service.name}`, error);
    } finally {
      this.#notifyWatches();
    }
  }

  async deregister(service: Service): Promise<void> {
    // A name that could not have been registered has nothing to remove, and must not become a path.
    if (nameProblem(service.name) !== undefined) return;
    const files = service.nodes.filter((node) => nameProblem(node.id) === undefined).map((node) => `${node.id}.json`);
    await this.#watchesReady();
    try {
      await Promise.all(files.map((file) => rm(join(this.#dir, service.name, file), { force: true })));
    } catch (error) {
      throw this.#unavailable(`deregistering ${service.name}`, error);
    } finally {
      this.#notifyWatches();
    }
  }

  async getService(name: string): Promise<Service[]> {
    return servicesOf(await this.#read(name, `reading service ${name}`));
  }

  async listServices(): Promise<Service[]> {
    return servicesOf(await this.#read(undefined, "listing services"));
  }

  /** The live entries of service `only` (or of all), shared with this registry's watches. */
  async #read(only: string | undefined, what: string): Promise<RegistryEntry[]> {
    const read = ++this.#reads.started;
    let entries: RegistryEntry[];
    try {
      // A check a poll interval old will do: a lookup in a loop must not read /proc for every node every time.
      entries = (await readLive(this.#dir, only, (writer) => this.#writers.gone(writer, this.#pollIntervalMs))).entries;
    } catch (error) {
      throw this.#unavailable(what, error);
    }
    for (const watch of this.#watches) watch.take(read, only, entries);
    return entries;
  }

  watch(options: WatchOptions = {}): Watcher {
    // Each scan checks the writers afresh (watches scanning together share one check), so a death shows at the next poll.
    const writerGone: WriterGone = (writer) => this.#writers.gone(writer, notificationDelayMs);
    const watch = new FolderWatch(this.#dir, options.service, this.#pollIntervalMs, this.#reads, writerGone, () =>
      this.#watches.delete(watch),
    );
    this.#watches.add(watch);
    return watch.watcher;
  }

  /**
   * Says so when registering `service` had to make `made` (the first folder mkdir made) though
   * start() made the registry's folder, and an earlier registration the service's: it was removed.
   */
  #madeAgain(made: string, service: Service): void {
    const nodes = service.nodes.map((node) => node.id).join(", ");
    // Not `service`: a service's logger has that field already, and a broker's registration is another service.
    const fields = { registry: this.#dir, registeredService: service.name, nodes };
    // The registry's folder itself, or a folder above it: everything in it went.
    const below = relative(resolve(made), resolve(this.#dir));
    if (!below.startsWith("..") && !isAbsolute(below)) {
      // Every service's folder went with it: this one warning covers them, not one more per service.
      this.#registered.clear();
      this.#logger.warn(
        fields,
        `local registry: the folder ${this.#dir} was removed while services were registered in it; made it again ` +
          `and registered ${service.name} (${nodes}) again: other nodes come back with their own processes' next ` +
          "heartbeat (--register_interval), and watchers report them gone until then",
      );
    } else if (this.#registered.has(service.name))
      this.#logger.warn(
        fields,
        `local registry: the folder of ${service.name} in ${this.#dir} was removed; made it again and registered ` +
          `${service.name} (${nodes}) again: its other nodes come back with their processes' next heartbeat`,
      );
  }

  #unavailable(what: string, error: unknown): TsmicroError {
    return new TsmicroError(Code.UNAVAILABLE, `local registry at ${this.#dir}: ${what} failed: ${messageOf(error)}`, {
      cause: error,
    });
  }

  /** Every watch of this registry has read its starting point, so a change made now reaches it as an event. */
  async #watchesReady(): Promise<void> {
    await Promise.all([...this.#watches].map((watch) => watch.ready));
  }

  #notifyWatches(): void {
    // Notifications from the filesystem are hints that may be late or missing; this process's own changes need none.
    for (const watch of this.#watches) watch.scanSoon(0);
  }
}

/** The local registry in `options.dir` (see LocalRegistry); start() makes and checks the folder. */
export function createLocalRegistry(options: LocalRegistryOptions = {}): Registry {
  return new LocalRegistry(options);
}

/** The number of the last read of a registry's folder to start. */
interface ReadCounter {
  started: number;
}

/**
 * One watcher of the folder (or of one service's folder): scans on filesystem notifications and
 * on a poll, and reports the difference between scans and the reads its registry takes it.
 */
class FolderWatch {
  /** Settles once the watch has read the state it reports changes from. */
  readonly ready: Promise<void>;
  readonly #dir: string;
  readonly #only: string | undefined;
  readonly #pollIntervalMs: number;
  readonly #reads: ReadCounter;
  readonly #writerGone: WriterGone;
  readonly #feed: WatcherFeed;
  readonly #hints = new Map<string, FSWatcher>();
  #snapshot = new Map<string, RegistryEntry>();
  /** The newest read taken of the whole folder, and of each service since: an older one is left out. */
  #wholeReadAt = -1;
  readonly #serviceReadAt = new Map<string, number>();
  /** Whether the starting point is read: reads taken before it are part of it, not changes. */
  #started = false;
  #timer: NodeJS.Timeout | undefined;
  #timerDueAt = Infinity;
  #scanning = false;

  constructor(
    dir: string,
    only: string | undefined,
    pollIntervalMs: number,
    reads: ReadCounter,
    writerGone: WriterGone,
    onStop: () => void,
  ) {
    this.#dir = dir;
    this.#only = only;
    this.#pollIntervalMs = pollIntervalMs;
    this.#reads = reads;
    this.#writerGone = writerGone;
    this.#feed = createWatcherFeed(() => {
      clearTimeout(this.#timer);
      for (const hint of this.#hints.values()) hint.close();
      this.#hints.clear();
      onStop();
    });
    this.ready = this.#scan().then(() => {
      this.#started = true;
    });
  }

  get watcher(): Watcher {
    return this.#feed.watcher;
  }

  stop(): void {
    this.#feed.watcher.stop();
  }

  scanSoon(delayMs: number): void {
    if (this.#feed.stopped) return;
    const dueAt = Date.now() + delayMs;
    if (this.#timer && this.#timerDueAt <= dueAt) return;
    clearTimeout(this.#timer);
    this.#timerDueAt = dueAt;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerDueAt = Infinity;
      void this.#scan();
    }, timerDelay(delayMs));
    // A watcher is often a cache's (the selector's): it must never be why a process stays up.
    this.#timer.unref();
  }

  /**
   * Takes read number `read` of service `service` (or of every service) into the snapshot, reporting
   * what changed once the watch has its starting point. Parts of it older than what the snapshot
   * holds already are left out.
   */
  take(read: number, service: string | undefined, entries: readonly RegistryEntry[]): void {
    if (this.#feed.stopped || (this.#only !== undefined && service !== undefined && service !== this.#only)) return;
    const newer = (name: string) => read > Math.max(this.#wholeReadAt, this.#serviceReadAt.get(name) ?? -1);
    const covers = (name: string) => (service === undefined || name === service) && newer(name);
    const next = new Map([...this.#snapshot].filter(([, entry]) => !covers(entry.service.name)));
    for (const entry of entries) {
      const name = entry.service.name;
      if ((this.#only === undefined || name === this.#only) && covers(name))
        next.set(entryKey(name, entry.node.id), entry);
    }
    if (service === undefined && read > this.#wholeReadAt) {
      this.#wholeReadAt = read;
      for (const [name, at] of this.#serviceReadAt) if (at < read) this.#serviceReadAt.delete(name);
    } else if (service !== undefined && newer(service)) this.#serviceReadAt.set(service, read);
    if (this.#started) for (const event of diffSnapshots(this.#snapshot, next)) this.#feed.push(event);
    this.#snapshot = next;
  }

  async #scan(): Promise<void> {
    if (this.#feed.stopped) return;
    if (this.#scanning) return this.scanSoon(notificationDelayMs);
    this.#scanning = true;
    try {
      const read = ++this.#reads.started;
      const { entries, folders } = await readLive(this.#dir, this.#only, this.#writerGone);
      this.take(read, this.#only, entries);
      // A folder followed anew may have changed between the read and the watch: read it once more.
      if (this.#followFolders(this.#only === undefined ? folders : [this.#only])) this.scanSoon(notificationDelayMs);
    } catch {
      // The folder cannot be read right now: keep the last snapshot and try again on the next poll.
    } finally {
      this.#scanning = false;
    }
    this.scanSoon(this.#untilNextScan());
  }

  /**
   * Follows the folder and `serviceFolders` in it with notifications, or while the folder is missing the
   * nearest folder above it, to hear it made again; drops the rest. Polling alone would do: notifications
   * only make changes arrive sooner. Whether it followed a folder anew, whose changes since the read it may have missed.
   */
  #followFolders(serviceFolders: readonly string[]): boolean {
    const wanted = new Set<string>();
    let followedAnew = false;
    const follow = (path: string, only?: string) => {
      const outcome = this.#follow(path, only);
      if (outcome === "following" || outcome === "anew") wanted.add(path);
      followedAnew ||= outcome === "anew";
      return outcome;
    };
    if (follow(this.#dir) === "missing") {
      for (let below = this.#dir, above = dirname(below); above !== below; below = above, above = dirname(above))
        if (follow(above, basename(below)) !== "missing") break;
    } else for (const folder of serviceFolders) follow(join(this.#dir, folder));
    for (const [path, hint] of this.#hints) if (!wanted.has(path)) this.#unfollow(path, hint);
    return followedAnew;
  }

  /** Follows `path` (only its entry `only`, when given), unless it already does, the watch stopped or `path` cannot be. */
  #follow(path: string, only?: string): "following" | "anew" | "missing" | "unwatchable" {
    if (this.#hints.has(path)) return "following";
    if (this.#feed.stopped) return "unwatchable";
    const hint = watchFolder(path, only, {
      changed: () => this.scanSoon(notificationDelayMs),
      gone: () => {
        if (typeof hint === "object") this.#unfollow(path, hint);
        this.scanSoon(notificationDelayMs);
      },
    });
    if (typeof hint === "string") return hint;
    this.#hints.set(path, hint);
    return "anew";
  }

  #unfollow(path: string, hint: FSWatcher): void {
    hint.close();
    // A late notice from a watch already replaced must not drop its successor.
    if (this.#hints.get(path) === hint) this.#hints.delete(path);
  }

  #untilNextScan(): number {
    let earliest = Infinity;
    for (const entry of this.#snapshot.values()) earliest = Math.min(earliest, entry.expiresAt);
    // Wake when the first node expires, so a dead process's node is reported on time whatever the poll interval.
    return Math.max(1, Math.min(this.#pollIntervalMs, earliest - Date.now() + 1));
  }
}

/**
 * Notifications of changes in `folder` (of its entry `only` alone, when given), or why there are none:
 * it is missing, or cannot be watched (no notifications on this filesystem, or none left). A watch of a folder that is
 * removed (or renamed) falls silent for good, even once a folder of that name is made again, so a
 * notice that may be about the folder itself (one naming it) calls `gone`, for the caller to watch afresh.
 */
function watchFolder(
  folder: string,
  only: string | undefined,
  on: { readonly changed: () => void; readonly gone: () => void },
): FSWatcher | "missing" | "unwatchable" {
  const own = basename(folder);
  try {
    const hint = nodeFs().watch(folder, { persistent: false }, (_event, entry) => {
      // Some platforms name no entry: that could be the folder itself going.
      if (entry === null || entry === own) on.gone();
      else if (only === undefined || entry === only) on.changed();
    });
    hint.on("error", on.gone);
    return hint;
  } catch (error) {
    return isMissing(error) ? "missing" : "unwatchable";
  }
}

/**
 * Live entries in `dir` of one service, or of all when `only` is undefined, and the folders read.
 * Live: not expired, and not written by a process `writerGone` says is gone.
 */
async function readLive(
  dir: string,
  only: string | undefined,
  writerGone: WriterGone,
): Promise<{ entries: LocalEntry[]; folders: string[] }> {
  let folders: string[];
  if (only !== undefined) {
    folders = nameProblem(only) === undefined ? [only] : [];
  } else {
    try {
      const found = await readdir(dir, { withFileTypes: true });
      folders = found.filter((f) => f.isDirectory() && nameProblem(f.name) === undefined).map((f) => f.name);
    } catch (error) {
      if (isMissing(error)) return { entries: [], folders: [] };
      throw error;
    }
  }
  const time = Date.now();
  const perFolder = await Promise.all(folders.map((folder) => readFolder(join(dir, folder), folder, time, writerGone)));
  return { entries: perFolder.flat(), folders };
}

async function readFolder(
  folder: string,
  serviceName: string,
  time: number,
  writerGone: WriterGone,
): Promise<LocalEntry[]> {
  let files: string[];
  try {
    files = await readdir(folder);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
  // Names starting with "." are temp files still being written; no node file can start so.
  const nodeFiles = files.filter((file) => file.endsWith(".json") && !file.startsWith("."));
  const read = await Promise.all(
    nodeFiles.map((file) => readNodeFile(join(folder, file), serviceName, file, time, writerGone)),
  );
  return read.filter((entry) => entry !== undefined);
}

async function readNodeFile(
  path: string,
  serviceName: string,
  file: string,
  time: number,
  writerGone: WriterGone,
): Promise<LocalEntry | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  const entry = parseEntry(text);
  // A file whose content disagrees with its place was not written by a registry: ignore it, but leave it.
  if (!entry || entry.service.name !== serviceName || `${entry.node.id}.json` !== file) return undefined;
  if (entry.expiresAt > time && !(await writerGone(entry.process))) return entry;
  await removeExpired(path, text);
  return undefined;
}

/** The node's own process is gone (or late): remove its file so the folder does not fill up, nor other readers wait for its TTL. */
async function removeExpired(path: string, seen: string): Promise<void> {
  try {
    // A late heartbeat may have replaced the file since it was read; only the expired version goes.
    if ((await readFile(path, "utf8")) === seen) await unlink(path);
  } catch {
    // Already removed by another reader; reads ignore expired files anyway.
  }
}

async function writeAtomically(folder: string, file: string, text: string): Promise<void> {
  const temp = join(folder, `.${randomBytes(8).toString("hex")}.tmp`);
  try {
    await writeFile(temp, text, { mode: 0o600, flag: "wx" });
    await rename(temp, join(folder, file));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * Refuses a per-user folder that another user owns or may write to: whoever
 * controls it could register nodes that receive this user's calls.
 */
async function checkOwnFolder(path: string): Promise<void> {
  const uid = currentUid();
  if (uid < 0) return; // Windows: no POSIX owners.
  const info = await stat(path);
  if (info.uid !== uid) throw new Error(`${path} belongs to uid ${info.uid}, not to this user (uid ${uid})`);
  if ((info.mode & 0o022) !== 0) {
    throw new Error(`${path} may be written by other users (mode ${(info.mode & 0o777).toString(8)}); chmod 700 it`);
  }
}

/** This user's id; `process.getuid` first because `os.userInfo` throws for a uid with no passwd entry (common in containers). */
function currentUid(): number {
  return process.getuid?.() ?? userInfo().uid;
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A node file's content, or undefined when it is not one (another program's file, a future format). */
function parseEntry(text: string): LocalEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(value) || typeof value["expiresAt"] !== "number") return undefined;
  const service = parseService(value["service"]);
  const node = parseNode(value["node"]);
  if (!service || !node) return undefined;
  // No record (an older tsmicro wrote it) or a damaged one: the TTL alone decides, as it did.
  const writer = parseWriterProcess(value["process"]);
  return { service, node, expiresAt: value["expiresAt"], ...(writer ? { process: writer } : {}) };
}

function parseService(value: unknown): ServiceRecord | undefined {
  if (!isObject(value) || !Array.isArray(value["endpoints"])) return undefined;
  const { name, version } = value;
  const metadata = stringRecord(value["metadata"]);
  const endpoints = value["endpoints"].map(parseEndpoint);
  if (typeof name !== "string" || typeof version !== "string" || !metadata) return undefined;
  if (!endpoints.every((endpoint) => endpoint !== undefined)) return undefined;
  return { name, version, metadata, endpoints };
}

function parseEndpoint(value: unknown): Endpoint | undefined {
  if (!isObject(value)) return undefined;
  const { name, request, response } = value;
  const metadata = stringRecord(value["metadata"]);
  if (typeof name !== "string" || typeof request !== "string" || typeof response !== "string" || !metadata) {
    return undefined;
  }
  return { name, request, response, metadata };
}

function parseNode(value: unknown): Node | undefined {
  if (!isObject(value)) return undefined;
  const { id, address } = value;
  const metadata = stringRecord(value["metadata"]);
  return typeof id === "string" && typeof address === "string" && metadata ? { id, address, metadata } : undefined;
}

function stringRecord(value: unknown): Record<string, string> | undefined {
  if (!isObject(value)) return undefined;
  return Object.values(value).every((v) => typeof v === "string") ? (value as Record<string, string>) : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
