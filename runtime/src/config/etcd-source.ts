/**
 * An etcd prefix as a configuration layer, watched: a change made with
 * `tsmicro config set`, an import or etcdctl reaches the running service at
 * once. etcd3 is loaded only when the source is first read.
 */
import type { EtcdCredentials } from "../registry/etcd-address.js";
import type { ConfigEntry, EtcdConfigStore } from "./etcd-config-store.js";
import type { ConfigSource, ConfigTree, SourceEvents, SourceWatch } from "./config.js";
import { treeOfLeaves } from "./merge-layers.js";

/** Options of etcdSource. */
export interface EtcdSourceOptions {
  /**
   * etcd client addresses, `host:port` or `http://host:port`; every member of a cluster. With
   * authentication on, the user goes first: `http://app:PASSWORD@host:2379`.
   */
  readonly addresses: readonly string[];
  /** The user to authenticate as when the addresses name none (`etcdCredentialsFromEnv(process.env)`). */
  readonly auth?: EtcdCredentials;
  /** The service whose settings to read: the prefix becomes `/micro/config/<service>/`. */
  readonly service?: string;
  /** The key prefix instead, such as `/micro/config/` (go-micro's). Wins over `service`. */
  readonly prefix?: string;
  /** How long the first read waits for etcd. Default 5000. */
  readonly dialTimeoutMs?: number;
}

/** go-micro's config centre prefix. */
export const defaultConfigPrefix = "/micro/config/";

/** The etcd prefix of a service's settings: `/micro/config/<service>/`, or go-micro's `/micro/config/` for none. */
export function configPrefix(service?: string, prefix?: string): string {
  if (prefix !== undefined) return `${prefix.replace(/\/+$/, "")}/`;
  return service ? `${defaultConfigPrefix}${service.replaceAll("/", "-")}/` : defaultConfigPrefix;
}

/**
 * A layer read from the keys under an etcd prefix, one key per setting
 * (`/micro/config/user/database/url` → `database.url`, JSON values), and
 * watched. An etcd that does not answer at start is a SetupError
 * (TSM_ERR_CONFIG_UNREACHABLE); after start, etcd3 reconnects by itself and
 * the service keeps its last settings meanwhile.
 */
export function etcdSource(options: EtcdSourceOptions): ConfigSource {
  const prefix = configPrefix(options.service, options.prefix);
  const open = async (): Promise<EtcdConfigStore> => {
    const { openEtcdConfigStore } = await import("./etcd-config-store.js");
    return openEtcdConfigStore({
      addresses: options.addresses,
      ...(options.auth ? { auth: options.auth } : {}),
      prefix,
      ...(options.dialTimeoutMs === undefined ? {} : { dialTimeoutMs: options.dialTimeoutMs }),
      unreachableHint: "start etcd, or correct the config source's addresses",
    });
  };
  return {
    name: `etcd ${prefix}`,
    async read() {
      const store = await open();
      try {
        return treeOfLeaves((await store.read()).entries);
      } finally {
        await store.close();
      }
    },
    watch: async (events) => followPrefix(await open(), events),
    locate(path) {
      return `etcd ${prefix}${path.join("/")}`;
    },
    // Only /micro/config/<service>/ is the service's own: go-micro's /micro/config/, or a prefix chosen, may be shared.
    holdsOthersKeys: options.prefix !== undefined || options.service === undefined,
  };
}

/** Reads the prefix and then follows it, keeping every key's value to rebuild the whole tree after each change. */
async function followPrefix(store: EtcdConfigStore, events: SourceEvents): Promise<SourceWatch> {
  let read: { entries: ConfigEntry[]; revision: number };
  try {
    read = await store.read();
  } catch (error) {
    await store.close();
    throw error;
  }
  const entries = new Map(read.entries.map((entry) => [entry.key, entry]));
  const tree = (): ConfigTree => treeOfLeaves(entries.values());
  const watch = store.watch(read.revision, {
    changes(changes) {
      for (const change of changes) {
        if (change.action === "delete" || change.value === undefined) entries.delete(change.key);
        else entries.set(change.key, { key: change.key, segments: change.segments, value: change.value });
      }
      events.changed(tree());
    },
    resync(all) {
      entries.clear();
      for (const entry of all) entries.set(entry.key, entry);
      events.changed(tree());
    },
  });
  return {
    initial: tree(),
    async close() {
      await watch.close();
      await store.close();
    },
  };
}
