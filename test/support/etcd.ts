import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, freePorts } from "./ports.js";
import { findProgram } from "./programs.js";

/** The etcd binary (Debian `etcd-server`), or undefined when missing and not required: the suite is then skipped. */
export const etcdProgram = findProgram("etcd", "etcd-server");

/** Real etcd processes on 127.0.0.1, for one suite. */
export interface EtcdCluster {
  /** Client URLs (`http://127.0.0.1:PORT`), one per member, in member order. */
  readonly endpoints: readonly string[];
  /** Stops member `i` (SIGTERM, then SIGKILL); its data directory and ports stay for startMember. */
  stopMember(i: number): Promise<void>;
  /**
   * Starts a stopped member again on its ports, and waits until it is healthy: on its old data
   * directory, or with `empty`, on a new one (an etcd whose data was lost: its revisions start over).
   */
  startMember(i: number, options?: { readonly empty?: boolean }): Promise<void>;
  /** Stops every member and removes the data directories. */
  stop(): Promise<void>;
}

/** Options of startEtcdCluster. */
export interface EtcdClusterOptions {
  readonly members: 1 | 3;
}

interface Member {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  process: ChildProcess | undefined;
  /** The member's recent stderr, for the message when it does not become healthy. */
  log: string;
}

const healthTimeoutMs = 20_000;
const stopTimeoutMs = 5_000;

/**
 * Starts an etcd cluster of one or three members on 127.0.0.1, each with
 * free client and peer ports and its own temporary data directory, and
 * waits until every member reports healthy. Members are killed when this
 * process exits, so a failing suite leaves no etcd behind.
 */
export async function startEtcdCluster(options: EtcdClusterOptions): Promise<EtcdCluster> {
  const program = etcdProgram;
  if (!program) throw new Error("etcd is not installed (apt-get install etcd-server)");
  const root = await mkdtemp(join(tmpdir(), "tsmicro-etcd-"));
  // Members restart on their ports.
  const ports = await freePorts(options.members * 2);
  const members: Member[] = Array.from({ length: options.members }, (_, i) => ({
    name: `member${i}`,
    clientUrl: `http://127.0.0.1:${ports[2 * i]}`,
    peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
    dataDir: join(root, `member${i}`),
    process: undefined,
    log: "",
  }));
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
  const token = `tsmicro-${process.pid}-${Date.now()}`;

  // Synchronous by necessity: an 'exit' handler cannot wait. Kills by each process's own pid.
  const killAll = () => {
    for (const member of members)
      if (member.process?.pid && member.process.exitCode === null) member.process.kill("SIGKILL");
  };
  process.once("exit", killAll);

  const launch = (member: Member) => {
    const child = spawn(
      program,
      [
        `--name=${member.name}`,
        `--data-dir=${member.dataDir}`,
        `--listen-client-urls=${member.clientUrl}`,
        `--advertise-client-urls=${member.clientUrl}`,
        `--listen-peer-urls=${member.peerUrl}`,
        `--initial-advertise-peer-urls=${member.peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-token=${token}`,
        "--initial-cluster-state=new",
        // Short raft timings make elections after a stopped member quick and
        // let etcd grant 1 s leases (its minimum TTL is 1.5 election timeouts).
        "--heartbeat-interval=50",
        "--election-timeout=500",
        "--logger=zap",
        "--log-outputs=stderr",
        "--log-level=warn",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    member.process = child;
    member.log = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      member.log = (member.log + chunk).slice(-4000);
    });
  };

  const stopMember = async (member: Member) => {
    const child = member.process;
    member.process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  };

  const cluster: EtcdCluster = {
    endpoints: members.map((m) => m.clientUrl),
    async stopMember(i) {
      await stopMember(memberAt(members, i));
    },
    async startMember(i, options = {}) {
      const member = memberAt(members, i);
      if (member.process) return;
      if (options.empty) await rm(member.dataDir, { recursive: true, force: true });
      launch(member);
      await waitHealthy(member);
    },
    async stop() {
      await Promise.all(members.map(stopMember));
      process.removeListener("exit", killAll);
      await rm(root, { recursive: true, force: true });
    },
  };

  try {
    members.forEach(launch);
    await Promise.all(members.map(waitHealthy));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

function memberAt(members: readonly Member[], i: number): Member {
  const member = members[i];
  if (!member) throw new RangeError(`no etcd member ${i}; the cluster has ${members.length}`);
  return member;
}

/** Polls the member's `/health` until etcd says it has a leader and serves requests. */
async function waitHealthy(member: Member): Promise<void> {
  const deadline = Date.now() + healthTimeoutMs;
  while (Date.now() < deadline) {
    const child = member.process;
    if (!child || child.exitCode !== null) throw new Error(`etcd ${member.name} exited early:\n${member.log}`);
    try {
      const response = await fetch(`${member.clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
      const body = (await response.json()) as { health?: string };
      if (body.health === "true") return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`etcd ${member.name} at ${member.clientUrl} not healthy after ${healthTimeoutMs} ms:\n${member.log}`);
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export const closedPort = (): Promise<number> => freePort();
