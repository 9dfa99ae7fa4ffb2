/**
 * What createService, createWebService and the gateway share about their
 * lives: who owns the registry, keeping one node registered (register,
 * heartbeat, deregister, drain), and running until SIGINT/SIGTERM with one
 * clear line when start fails. The rule throughout: whoever creates a
 * resource owns it; a registry handed in by the caller is never stopped here.
 */
import { writeSync } from "node:fs";
import { createServer, isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { isSetupError, SetupError } from "../errors/setup-error.js";
import { flushLogSync, type Logger, writesForPeople } from "../logging/logger.js";
import { redactText } from "../logging/redact.js";
import type { MetricsServer } from "../metrics/metrics-server.js";
import type { Endpoint, Registry, Service as RegistryService } from "../registry/registry.js";
import { endpointsFingerprint } from "../registry/endpoints-fingerprint.js";
import { createRegistry } from "./create-registry.js";
import { advertiseAddress, hostPort, joinHostPort, listenRule } from "./host-port.js";
import { HelpRequested } from "./service-help.js";
import type { ServiceSettings } from "./settings.js";

/** How long a deregistered node keeps serving so callers' watches drop it before it stops accepting. */
export const drainDelayMs = 300;

/**
 * A registry as one service (or gateway, or client) uses it: started once on
 * first use, and stopped by `release()` only when it was created here. A
 * handed-in registry may be shared with other services; stopping it would
 * end their watches.
 */
export class RegistryUse {
  #started: Promise<void> | undefined;

  private constructor(
    readonly registry: Registry,
    private readonly owned: boolean,
  ) {}

  /**
   * Uses `handed` when given (the caller keeps owning it), else a new registry from
   * `--registry`/`--registry_address`, which tells `logger` when it loses etcd and finds it again.
   */
  static of(
    handed: Registry | undefined,
    settings: Pick<ServiceSettings, "registry" | "registryAddress"> & Partial<Pick<ServiceSettings, "registryAuth">>,
    logger?: Logger,
  ): RegistryUse {
    return handed ? new RegistryUse(handed, false) : new RegistryUse(createRegistry(settings, logger), true);
  }

  /** Starts the registry once; starting a handed-in one that is already started does nothing (start is idempotent). */
  ready(): Promise<void> {
    this.#started ??= this.registry.start();
    return this.#started;
  }

  /** Stops the registry if this side created it and started it; a handed-in one is left running. */
  async release(): Promise<void> {
    if (!this.owned || !this.#started) return;
    await this.#started.catch(() => undefined);
    await this.registry.stop();
  }
}

/** What a registered node says about itself. */
export interface NodeRecordOptions {
  readonly name: string;
  readonly version: string | undefined;
  readonly metadata: Readonly<Record<string, string>> | undefined;
  readonly endpoints: readonly Endpoint[];
  readonly id: string;
  readonly address: string;
  /** `grpc` for services, `http` for web services. */
  readonly protocol: "grpc" | "http";
  readonly registryKind: string;
  /** The node's advertised `/metrics` address (`host:port`), for `tsmicro prometheus-targets`; absent when off. */
  readonly metricsAddress?: string | undefined;
}

/** The registry record of one node, with the node metadata go-micro's tools read. */
export function nodeRecord(options: NodeRecordOptions): RegistryService {
  return {
    name: options.name,
    version: options.version ?? "latest",
    metadata: options.metadata ?? {},
    endpoints: options.endpoints,
    nodes: [
      {
        id: options.id,
        address: options.address,
        // The service's own metadata on its node too, as go-micro's server.Metadata: strategies and tools read nodes.
        metadata: {
          ...withoutNodeKeys(options.metadata),
          transport: options.protocol,
          protocol: options.protocol,
          server: options.protocol,
          registry: options.registryKind,
          runtime: "tsmicro",
          ...(options.endpoints.length === 0 ? {} : { descriptors: endpointsFingerprint(options.endpoints) }),
          ...(options.metricsAddress === undefined ? {} : { metrics: options.metricsAddress }),
        },
      },
    ],
  };
}

/** The keys tsmicro sets on a node; `metrics` only when it serves metrics, so a service's own is never taken for it. */
const nodeKeys: ReadonlySet<string> = new Set([
  "transport",
  "protocol",
  "server",
  "registry",
  "runtime",
  "descriptors",
  "metrics",
]);

function withoutNodeKeys(metadata: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const own: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata ?? {})) if (!nodeKeys.has(key)) own[key] = value;
  return own;
}

/** Options of a Registration. */
export interface RegistrationOptions {
  readonly ttlMs: number;
  readonly intervalMs: number;
  readonly logger: Logger;
  /** Shared by the registrations of one process (a service's node and its broker's subscriptions); its own when unset. */
  readonly pauses?: PauseLog;
}

/**
 * Tells a pause of the process once. Every registration the process keeps (a service's node, each
 * http-broker subscription) finds its lapse at its next heartbeat; the first to say so speaks for all.
 * A registration's silence runs from its last registration to the heartbeat that found it lapsed, so
 * every silence spanning the same pause overlaps the one told, and a later pause's does not.
 */
export class PauseLog {
  #told: { readonly from: number; readonly to: number } | undefined;

  /** Whether the silence from `from` to `to` (epoch ms) is a pause not told yet; if so it counts as told. */
  untold(from: number, to: number): boolean {
    const told = this.#told;
    if (told && from < told.to && to > told.from) return false;
    this.#told = { from, to };
    return true;
  }
}

/**
 * Keeps one node registered: registers it, re-registers every interval (the
 * heartbeat; a failed one is logged and tried again next time), and on stop
 * deregisters it and waits `drainDelayMs` so callers' watches drop the node
 * before its server stops accepting.
 */
export class Registration {
  #heartbeat: NodeJS.Timeout | undefined;
  /** The heartbeat in flight: stop() waits for it, or it could register the node again after deregistering. */
  #beating: Promise<void> = Promise.resolve();
  #registered = false;
  /** Heartbeats failed in a row: the first is logged, and the one that succeeds after them. */
  #failures = 0;
  /** When the last registration the registry took was asked for: the registry holds the node a TTL from about then. */
  #registeredAt = 0;
  readonly #pauses: PauseLog;

  constructor(
    private readonly registry: Registry,
    readonly record: RegistryService,
    private readonly options: RegistrationOptions,
  ) {
    this.#pauses = options.pauses ?? new PauseLog();
  }

  /** Registers the node and starts the heartbeat; rejects when the first registration fails. */
  async start(): Promise<void> {
    const { ttlMs, intervalMs, logger } = this.options;
    if (intervalMs >= ttlMs)
      logger.warn(
        { registerIntervalMs: intervalMs, registerTtlMs: ttlMs },
        `--register_interval (${intervalMs / 1000} s) is not shorter than --register_ttl (${ttlMs / 1000} s): ` +
          "the node expires between heartbeats and callers lose it; use an interval below the TTL, such as 15s and 30s",
      );
    this.#registeredAt = Date.now();
    await this.register();
    this.#registered = true;
    this.#heartbeat = setInterval(() => {
      this.#beating = this.#beat();
    }, this.options.intervalMs);
    // A heartbeat is no reason to keep the process alive.
    this.#heartbeat.unref();
  }

  /** Stops the heartbeat, deregisters (a failure is logged: the TTL removes the node anyway), then drains. */
  async stop(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    if (!this.#registered) return;
    this.#registered = false;
    await this.#beating;
    await this.registry.deregister(this.record).catch((error: unknown) => this.#deregistrationFailed(error));
    await new Promise((resolve) => setTimeout(resolve, drainDelayMs));
  }

  /** One line without a stack, as a failed heartbeat: the registry being down at shutdown is no bug of the service. */
  #deregistrationFailed(error: unknown): void {
    this.options.logger.warn(
      { reason: error instanceof Error ? error.message : String(error) },
      `deregistration failed; the registry drops the node when its --register_ttl (${this.options.ttlMs / 1000} s) runs out`,
    );
  }

  /** A failed heartbeat, as one line without a stack: the registry being down is no bug of the service. */
  #failed(error: unknown): void {
    this.#failures++;
    this.options.logger.warn(
      { reason: error instanceof Error ? error.message : String(error), failures: this.#failures },
      `heartbeat to the registry failed; retrying every ${this.options.intervalMs / 1000} s`,
    );
  }

  /** One heartbeat: registers again, and says so when the registration had lapsed or the registry was down. */
  async #beat(): Promise<void> {
    const askedAt = Date.now();
    try {
      await this.register();
    } catch (error) {
      this.#failed(error);
      return;
    }
    const silentMs = askedAt - this.#registeredAt;
    this.#registeredAt = askedAt;
    // After failed heartbeats the registry was the one away, and #recovered says so; with an interval not below
    // the TTL every heartbeat comes late, which start() warned of once.
    const { ttlMs, intervalMs } = this.options;
    if (
      this.#failures === 0 &&
      silentMs > ttlMs &&
      intervalMs < ttlMs &&
      this.#pauses.untold(askedAt - silentMs, askedAt)
    )
      this.#lapsed(silentMs);
    this.#recovered();
  }

  /**
   * The registration had expired, unseen: no heartbeat was even sent for longer than the TTL, so
   * the process did not run (paused: SIGSTOP, a debugger, a suspended VM or laptop) or its event
   * loop was blocked, and callers lost the node meanwhile.
   */
  #lapsed(silentMs: number): void {
    const node = this.record.nodes[0]?.id ?? this.record.name;
    const { ttlMs } = this.options;
    this.options.logger.warn(
      { silentMs, registerTtlMs: ttlMs },
      `the registration of ${node} had expired (no heartbeat reached the registry for ${seconds(silentMs)} s, ` +
        `longer than --register_ttl (${ttlMs / 1000} s): was the process paused, or its event loop blocked?); registered again`,
    );
  }

  #recovered(): void {
    if (this.#failures === 0) return;
    this.options.logger.info({ failures: this.#failures }, "registered again: the registry answers");
    this.#failures = 0;
  }

  private register(): Promise<void> {
    return this.registry.register(this.record, { ttlMs: this.options.ttlMs });
  }
}

/** Milliseconds as seconds for a log line: whole seconds, or one decimal below ten. */
function seconds(ms: number): number {
  return ms < 10_000 ? Math.round(ms / 100) / 10 : Math.round(ms / 1000);
}

/**
 * Prints `<name>: cannot start: <message>` on stderr (and logs it, unless the log goes to the same person), then exits 1.
 * Given the HelpRequested of `--help`, prints the help on stdout instead and exits 0.
 * The line is redacted as log lines are: a container's stderr reaches the same collector as its log, and a
 * message may quote a flag's value (`--broker_address nats://app:PASSWORD@nats:4222`).
 */
export function exitCannotStart(name: string, error: unknown, logger: Logger): never {
  if (error instanceof HelpRequested) {
    // Synchronous, so exit cannot cut the help short on a pipe (`node dist/main.js --help | less`).
    writeSync(1, error.help);
    process.exit(0);
  }
  const line = redactText(`${name}: cannot start: ${startFailure(error)}`);
  // Logs for a collector get the line too, for the log centre; a terminal's reader has it from stderr once.
  if (!writesForPeople(logger)) logger.error({ code: isSetupError(error) ? error.code : undefined }, line);
  // Pretty lines go out from a worker thread: the ones logged before the failure come first.
  flushLogSync(logger);
  process.stderr.write(`${line}\n`);
  process.exit(1);
}

/** How soon after a stop signal the same signal counts as the same Ctrl-C, not a second one. */
const repeatedSignalMs = 1_000;

/** What `runUntilSignal` drives: a service, a web service or a gateway. */
export interface Runnable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `target`, then stops it on SIGINT or SIGTERM and resolves once
 * stopped (the same signal again, a second or more later, exits at once). When start fails, the process
 * prints one line on stderr, `<name>: cannot start: <message>`, logs it,
 * and exits 1: a service that cannot start must not linger half-started,
 * and a stack trace would tell an operator less than the message does.
 */
export async function runUntilSignal(name: string, target: Runnable, logger: Logger): Promise<void> {
  try {
    await target.start();
  } catch (error) {
    exitCannotStart(name, error, logger);
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, "shutting down");
      // A second Ctrl-C exits at once. The first can arrive twice, from the terminal to the whole
      // process group and again from what runs the service (tsx watch under npm run dev): a repeat
      // within a moment is that same one, and the shutdown goes on to deregister.
      const firstAt = Date.now();
      const onRepeat = () => {
        if (Date.now() - firstAt < repeatedSignalMs) process.once(signal, onRepeat);
        else process.exit(1);
      };
      process.once(signal, onRepeat);
      target.stop().then(resolve, (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exitCode = 1;
        resolve();
      });
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
}

/** A start failure as one line: the message (with its TSM_ERR_* code for setup errors), never a stack. */
export function startFailure(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, "; ");
  return isSetupError(error) ? `${message} (${error.code})` : message;
}

/**
 * A listen failure as the error a user can act on: an address another
 * process holds becomes TSM_ERR_ADDRESS_IN_USE naming `flag`; any other
 * failure passes unchanged.
 */
export function listenError(error: unknown, flag: string, address: string): unknown {
  const text = `${(error as NodeJS.ErrnoException | undefined)?.code ?? ""} ${error instanceof Error ? error.message : ""}`;
  return text.includes("EADDRINUSE") ? new SetupError("TSM_ERR_ADDRESS_IN_USE", flag, address) : error;
}

/**
 * Fails with a SetupError naming `flag` when this process cannot listen on
 * `address`: TSM_ERR_ADDRESS_IN_USE when another process holds it,
 * TSM_ERR_FLAG when it is no `host:port` or not usable here (not an address
 * of this machine, a port below 1024 without the right). Probed with a
 * plain socket before grpc-js binds, because grpc-js prints a line of its
 * own on stderr when a bind fails. IP literals and wildcards only; a host
 * name is left to the real bind.
 */
export async function ensureCanListen(address: string, flag: string): Promise<void> {
  const { example } = listenRule;
  const { host, port } = hostPort(address, flag, {
    ...listenRule,
    otherwise: flag === "--metrics_address" ? ", or off" : "",
  });
  const probe = createServer();
  const failure = await new Promise<unknown>((resolve) => {
    probe.once("error", resolve);
    try {
      probe.listen({ port, ...(host === "" ? {} : { host }), exclusive: true }, () => resolve(undefined));
    } catch (error) {
      resolve(error);
    }
  });
  if (probe.listening) await new Promise((resolve) => probe.close(resolve));
  // A host name may resolve to several addresses, and grpc-js binds every one it can: the probe of
  // the first one proves nothing, so the real bind decides.
  if (failure === undefined || (host !== "" && isIP(host) === 0)) return;
  const inUse = listenError(failure, flag, address);
  if (inUse !== failure) throw inUse;
  const reason = failure instanceof Error ? failure.message : String(failure);
  throw new SetupError(
    "TSM_ERR_FLAG",
    flag,
    JSON.stringify(address),
    `cannot listen there (${reason}); use an address of this machine, ${example}`,
  );
}

/**
 * Runs `read` on the given flags and environment. A SetupError (a bad flag
 * or variable) is kept, and `read` runs again so the service can still be
 * built: on the log flags alone (`--log_format=pretty` under npm run dev
 * still says how to report it), else without flags and environment. Its
 * start() then throws the kept error, which run() prints as one line
 * instead of an uncaught stack trace at the top of main.
 */
export function readOrDefer<T>(
  read: (args: readonly string[], env: Readonly<Record<string, string | undefined>>) => T,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { value: T; error: SetupError | undefined } {
  try {
    return { value: read(args, env), error: undefined };
  } catch (error) {
    if (!isSetupError(error)) throw error;
    try {
      return { value: read(logFlags(args), env), error };
    } catch {
      return { value: read([], {}), error };
    }
  }
}

/** The `--log_*` flags of `args`, each with its value (`--log_format=pretty`, or `--log_format pretty`). */
function logFlags(args: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!/^--?log_/.test(arg)) continue;
    kept.push(arg);
    const next = args[i + 1];
    if (!arg.includes("=") && next !== undefined && !next.startsWith("-")) kept.push(args[++i]!);
  }
  return kept;
}

/** A bound wildcard address is advertised on the first external IPv4 address, as go-micro does. */
export function advertised(bound: string): string {
  const colon = bound.lastIndexOf(":");
  const host = bound.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = bound.slice(colon + 1);
  if (host !== "0.0.0.0" && host !== "::" && host !== "") return bound;
  const external = Object.values(networkInterfaces())
    .flat()
    .find((info) => info && info.family === "IPv4" && !info.internal);
  return `${external?.address ?? "127.0.0.1"}:${port}`;
}

/**
 * Serves `/metrics` at `at` and returns the address to advertise: the
 * bound one, on the machine's external address when bound to a wildcard,
 * and on `--server_advertise`'s host when that is given (the host callers
 * reach this node by).
 */
export async function listenMetrics(server: MetricsServer, at: string, serverAdvertise?: string): Promise<string> {
  await ensureCanListen(at, "--metrics_address");
  let bound: string;
  try {
    bound = await server.listen(at);
  } catch (error) {
    throw listenError(error, "--metrics_address", at);
  }
  return advertisedBeside(bound, serverAdvertise);
}

/**
 * The address to advertise for another listener of a service (its `/metrics`, its broker's
 * receiver) bound at `bound`: on `--server_advertise`'s host when that is given (the host callers
 * reach the node by), else as `advertised` has it. An IPv6 host keeps its brackets.
 */
export function advertisedBeside(bound: string, serverAdvertise: string | undefined): string {
  if (serverAdvertise === undefined) return advertised(bound);
  const { host } = advertiseAddress(serverAdvertise, "--server_advertise");
  return joinHostPort(host, bound.slice(bound.lastIndexOf(":") + 1));
}
