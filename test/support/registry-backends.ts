import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEtcdCluster } from "./etcd.js";
import { findProgram } from "./programs.js";

/** A registry for service processes: the flags that reach it, and how to remove it after. */
export interface RegistryBackend {
  readonly args: string[];
  cleanup(): Promise<void>;
}

/** A local registry in a temp folder of its own. */
async function localBackend(): Promise<RegistryBackend> {
  const dir = await mkdtemp(join(tmpdir(), "tsmicro-registry-"));
  return {
    args: ["--registry=local", `--registry_address=${dir}`],
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** An etcd of one member, started for the test. */
async function etcdBackend(): Promise<RegistryBackend> {
  const cluster = await startEtcdCluster({ members: 1 });
  return {
    args: ["--registry=etcd", `--registry_address=${cluster.endpoints.join(",")}`],
    cleanup: () => cluster.stop(),
  };
}

/**
 * The registries a test of service processes runs on, for describe.each: its name, how to make
 * one, and whether to skip it (etcd is not installed).
 */
export const registryBackends: [string, () => Promise<RegistryBackend>, boolean][] = [
  ["local", localBackend, false],
  ["etcd", etcdBackend, !findProgram("etcd", "etcd-server")],
];
