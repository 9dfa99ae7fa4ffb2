import { randomUUID } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type Registry, SetupError } from "@tsmicro/runtime";
import { writeErrorLine } from "./fail.js";

/** One entry of Prometheus's file-based service discovery: addresses to scrape and the labels they get. */
export interface TargetGroup {
  readonly targets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

/** A target the registry does not know, such as the gateway (`tsmicro api` registers no node): `service=host:port`. */
export interface StaticTarget {
  readonly service: string;
  readonly address: string;
}

/** Parses `--target service=host:port`; a SetupError (TSM_ERR_FLAG) names the flag and the expected form. */
export function parseStaticTarget(spec: string): StaticTarget {
  const match = /^([^=\s]+)=(\S+:\d+)$/.exec(spec.trim());
  if (!match)
    throw new SetupError(
      "TSM_ERR_FLAG",
      "--target",
      JSON.stringify(spec),
      "use service=host:port, such as api=127.0.0.1:8080",
    );
  return { service: match[1]!, address: match[2]! };
}

/**
 * The scrape targets of every registered node that advertises a `/metrics`
 * address (node metadata `metrics`), one group per node labelled with its
 * service, version and node id, then the static targets; sorted, so the
 * file changes only when the targets do.
 */
export async function prometheusTargets(
  registry: Registry,
  statics: readonly StaticTarget[] = [],
): Promise<TargetGroup[]> {
  const names = [...new Set((await registry.listServices()).map((service) => service.name))].sort();
  const groups: TargetGroup[] = [];
  for (const name of names) {
    for (const service of await registry.getService(name)) {
      for (const node of service.nodes) {
        const metrics = node.metadata.metrics;
        if (!metrics) continue;
        groups.push({ targets: [metrics], labels: { service: service.name, version: service.version, node: node.id } });
      }
    }
  }
  groups.sort((a, b) => (a.labels.node ?? "").localeCompare(b.labels.node ?? ""));
  for (const { service, address } of statics) groups.push({ targets: [address], labels: { service, node: address } });
  return groups;
}

/**
 * Writes the groups as Prometheus's file_sd JSON to `file` atomically: a
 * temporary file beside it, then a rename, so Prometheus never reads half
 * a file.
 */
export async function writeTargetsFile(file: string, groups: readonly TargetGroup[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temporary = join(dirname(file), `.${randomUUID()}.tmp`);
  try {
    await writeFile(temporary, `${JSON.stringify(groups, null, 2)}\n`);
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Options of `tsmicro prometheus-targets`. */
export interface TargetsCommandOptions {
  readonly out: string;
  readonly statics: readonly StaticTarget[];
  /** Reported after each write: how many targets the file now holds. */
  readonly onWrite: (targets: number) => void;
}

/** Writes the targets file once; resolves to the number of targets. */
export async function writeTargetsOnce(registry: Registry, options: TargetsCommandOptions): Promise<number> {
  const groups = await prometheusTargets(registry, options.statics);
  await writeTargetsFile(options.out, groups);
  options.onWrite(groups.length);
  return groups.length;
}

/**
 * Writes the targets file, then again on every registry change until
 * `signal` aborts. Changes that arrive while a write runs are folded into
 * one more write, so a burst of heartbeats costs at most two.
 */
export async function watchTargets(
  registry: Registry,
  options: TargetsCommandOptions,
  signal: AbortSignal,
): Promise<void> {
  const watcher = registry.watch();
  // Registry watches never hold a process up (they are caches' watches); this command lives for its watch.
  const alive = setInterval(() => undefined, 2 ** 30);
  signal.addEventListener(
    "abort",
    () => {
      clearInterval(alive);
      watcher.stop();
    },
    { once: true },
  );
  let written = "";
  let pending: Promise<void> | undefined;
  let again = false;
  const refresh = async (): Promise<void> => {
    const groups = await prometheusTargets(registry, options.statics);
    const text = JSON.stringify(groups);
    if (text === written) return;
    await writeTargetsFile(options.out, groups);
    written = text;
    options.onWrite(groups.length);
  };
  const schedule = (): Promise<void> => {
    if (pending) {
      again = true;
      return pending;
    }
    pending = refresh().finally(() => {
      pending = undefined;
      if (again && !signal.aborted) {
        again = false;
        void schedule();
      }
    });
    return pending;
  };
  await schedule();
  for await (const _event of watcher) {
    if (signal.aborted) break;
    void schedule().catch((error: unknown) => writeErrorLine(`tsmicro: prometheus-targets: ${String(error)}`));
  }
  await pending;
  clearInterval(alive);
}
