import { randomUUID } from "node:crypto";
import type { AddressInfo, Socket } from "node:net";
import { advertised } from "../service/service.js";
import { fastify, type FastifyInstance } from "fastify";
import { SetupError } from "../errors/setup-error.js";
import { createLogger, type Logger } from "../logging/logger.js";
import type { Registry, Service as RegistryService } from "../registry/registry.js";
import { createRegistry } from "../service/create-registry.js";
import { resolveServiceSettings, type ServiceSettings } from "../service/settings.js";

/** Options of createWebService. Settings given here are overridden by environment and flags, as for createService. */
export interface WebServiceOptions {
  /** The name the gateway finds the service by: `/{name}/...` is proxied here (under the gateway's namespace, if any). */
  readonly name: string;
  readonly version?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * A registry to use instead of the one the settings name. It is started
   * if needed but not stopped: whoever made it may share it with others.
   */
  readonly registry?: Registry;
  readonly settings?: Partial<ServiceSettings>;
  /** Command-line arguments to read flags from; default `process.argv.slice(2)`. */
  readonly args?: readonly string[];
  /** Environment to read `TSMICRO_*`/`MICRO_*` from; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly logger?: Logger;
}

/** A plain HTTP service (go-micro's web service) that registers itself so it can sit behind the gateway's web or proxy handler. */
export interface WebService {
  readonly name: string;
  /** The fastify app: add routes (and a WebSocket server on `app.server`) before start. */
  readonly app: FastifyInstance;
  /** This instance's node id in the registry. */
  readonly id: string;
  readonly settings: ServiceSettings;
  readonly logger: Logger;
  /** The registered `host:port`, once started. */
  readonly address: string | undefined;
  /** Listens on `--server_address`, registers a node with `protocol: http` and starts heartbeats. */
  start(): Promise<void>;
  /** Deregisters, keeps serving briefly so gateways drop the node, then closes; connections still open after `--shutdown_grace` are cut. */
  stop(): Promise<void>;
  /** Starts, then stops on SIGINT or SIGTERM; resolves once stopped. */
  run(): Promise<void>;
}

/** How long a deregistered node keeps serving so gateways' watches drop it before it stops accepting (as createService). */
const drainDelayMs = 300;

/**
 * Creates a web service: a fastify app that registers in the tsmicro
 * registry with HTTP node metadata, heartbeats while it runs and
 * deregisters on stop. Settings (registry, `--server_address`, TTLs,
 * shutdown grace) resolve from options, environment and flags as for
 * createService.
 */
export function createWebService(options: WebServiceOptions): WebService {
  const settings = resolveServiceSettings(
    options.settings ?? {},
    options.args ?? process.argv.slice(2),
    options.env ?? process.env,
  );
  const logger = options.logger ?? createLogger({ service: options.name, level: settings.logLevel });
  const registry = options.registry ?? createRegistry(settings);
  const ownsRegistry = options.registry === undefined;
  const id = `${options.name}-${randomUUID()}`;
  const app = fastify();
  // Every connection, upgraded ones (WebSockets) included, so stop can cut what outlives the grace period.
  const connections = new Set<Socket>();
  app.server.on("connection", (socket: Socket) => {
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
  });

  let registryReady: Promise<void> | undefined;
  let record: RegistryService | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let address: string | undefined;
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;

  async function register(): Promise<void> {
    if (record) await registry.register(record, { ttlMs: settings.registerTtlMs });
  }

  async function close(): Promise<void> {
    const grace = setTimeout(() => {
      logger.warn({ open: connections.size }, `connections still open after the shutdown grace; closing them`);
      for (const socket of connections) socket.destroy();
    }, settings.shutdownGraceMs);
    grace.unref();
    try {
      await app.close();
    } catch (error) {
      // A server already closed (a crashed listener, or a test that cut it) has nothing left to close.
      if ((error as NodeJS.ErrnoException).code !== "ERR_SERVER_NOT_RUNNING") throw error;
    } finally {
      clearTimeout(grace);
    }
  }

  async function start(): Promise<void> {
    if (stopping) throw new Error(`${options.name} was stopped; create a new web service to start again`);
    registryReady ??= registry.start();
    await registryReady;
    const { host, port } = splitHostPort(settings.serverAddress);
    await app.listen({ host, port });
    const bound = app.server.address() as AddressInfo;
    address =
      settings.serverAdvertise ??
      advertised(bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`);
    record = {
      name: options.name,
      version: options.version ?? "latest",
      metadata: options.metadata ?? {},
      endpoints: [],
      nodes: [
        {
          id,
          address,
          metadata: {
            transport: "http",
            protocol: "http",
            server: "http",
            registry: registry.kind,
            runtime: "tsmicro",
          },
        },
      ],
    };
    await register();
    heartbeat = setInterval(() => {
      register().catch((error: unknown) => logger.warn({ err: error }, "heartbeat to the registry failed; retrying"));
    }, settings.registerIntervalMs);
    heartbeat.unref();
    logger.info({ id, address, registry: registry.kind }, `${options.name} started`);
  }

  const service: WebService = {
    name: options.name,
    app,
    id,
    settings,
    logger,
    get address() {
      return address;
    },

    start(): Promise<void> {
      starting ??= start();
      return starting;
    },

    stop(): Promise<void> {
      stopping ??= (async () => {
        await starting?.catch(() => undefined);
        if (heartbeat) clearInterval(heartbeat);
        if (record) {
          await registry
            .deregister(record)
            .catch((error: unknown) => logger.warn({ err: error }, "deregistration failed"));
          await new Promise((resolve) => setTimeout(resolve, drainDelayMs));
        }
        await close();
        if (ownsRegistry && registryReady) await registry.stop();
        logger.info({ id }, `${options.name} stopped`);
      })();
      return stopping;
    },

    async run(): Promise<void> {
      await service.start();
      await new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => {
          logger.info({ signal }, "shutting down");
          process.once(signal, () => process.exit(1));
          service.stop().then(resolve, (error: unknown) => {
            logger.error({ err: error }, "shutdown failed");
            process.exitCode = 1;
            resolve();
          });
        };
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
      });
    },
  };
  return service;
}

/** `host:port` or `[v6]:port` -> its parts; a bad address is an error naming `--server_address`. */
function splitHostPort(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(":");
  const host = value.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(value.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new SetupError(
      "TSM_ERR_FLAG",
      "--server_address",
      JSON.stringify(value),
      "use host:port, such as 127.0.0.1:0",
    );
  }
  return { host: host === "" ? "0.0.0.0" : host, port };
}
