import type { AttemptTimeout } from "../client/attempt-timeout.js";
import { SetupError } from "../errors/setup-error.js";
import type { LoggerOptions } from "../logging/logger.js";
import { etcdCredentialsFromEnv, etcdEndpoints, type EtcdCredentials } from "../registry/etcd-address.js";
import { registryDefaults } from "../registry/registry.js";
import {
  defaultTraceProtocol,
  ratio,
  traceEndpoint,
  traceProtocol,
  type TraceProtocol,
} from "../tracing/tracing-settings.js";
import {
  byteSize,
  count,
  duration as durationIn,
  durationText,
  oneOf,
  readFlags,
  sizeText,
  type FlagParser,
  type FlagUsage,
} from "./flag-values.js";
import { advertiseAddress, hostPort, listenRule } from "./host-port.js";

/** Everything a service reads from flags and environment, resolved. */
export interface ServiceSettings {
  /** `local` (default), `etcd` or `memory`. */
  readonly registry: string;
  /** Registry addresses: etcd endpoints (`user:password@host:port` with authentication on), or the local registry's folder. */
  readonly registryAddress: readonly string[];
  /** etcd's user when the addresses name none: go-micro's ETCD_USERNAME and ETCD_PASSWORD, both set. */
  readonly registryAuth: EtcdCredentials | undefined;
  readonly registerTtlMs: number;
  readonly registerIntervalMs: number;
  /** Where the gRPC server binds. */
  readonly serverAddress: string;
  /** The address registered for callers, when it differs from the bound one. */
  readonly serverAdvertise: string | undefined;
  readonly clientRetries: number;
  readonly clientRequestTimeoutMs: number;
  /** Timeout of streaming calls that set none; undefined for none (the default). */
  readonly clientStreamTimeoutMs: number | undefined;
  readonly clientPoolSize: number;
  /** How long one attempt of an idempotent unary call may take before another node is tried: ms, `auto` (default) or `none`. */
  readonly clientAttemptTimeout: AttemptTimeout;
  /** The wire under this service's clients: `h2` (tsmicro's own gRPC on node:http2, default) or `grpc` (@grpc/grpc-js). */
  readonly clientTransport: "grpc" | "h2";
  /** The wire under this service's server: `h2` (tsmicro's own gRPC on node:http2, default) or `grpc` (@grpc/grpc-js). */
  readonly serverTransport: "grpc" | "h2";
  /** Keepalive pings on the clients' connections while they carry calls (`--client_keepalive`); undefined for none (the default). */
  readonly clientKeepaliveMs: number | undefined;
  /** How long a client's keepalive ping may go unanswered before its connection is dropped. */
  readonly clientKeepaliveTimeoutMs: number;
  /** Keepalive pings on the server's client connections (`--server_keepalive`); 0 for none. Default 2 h, as grpc-go's. */
  readonly serverKeepaliveMs: number;
  /** How long a server's keepalive ping may go unanswered before the connection and its calls are dropped. */
  readonly serverKeepaliveTimeoutMs: number;
  /** `gzip` compresses every response this server sends; `identity` (default) none. */
  readonly serverCompression: "gzip" | "identity";
  /** `gzip` compresses the requests of this service's clients; `identity` (default) none. */
  readonly clientCompression: "gzip" | "identity";
  /** Message size limits in bytes; -1 for none. Received: 4 MiB; sent: none, as gRPC's defaults. */
  readonly serverMaxRecvMsgSize: number;
  readonly serverMaxSendMsgSize: number;
  readonly clientMaxRecvMsgSize: number;
  readonly clientMaxSendMsgSize: number;
  /** `leastinflight` (default: power of two choices, weighed by latency), `roundrobin` or `random`. */
  readonly selector: string;
  /** How long shutdown waits for calls in flight. */
  readonly shutdownGraceMs: number;
  /**
   * Where `GET /metrics` is served (`--metrics_address`): `host:port`;
   * undefined for the host of `serverAddress` on a free port; `off` for no
   * endpoint and no metrics recorded.
   */
  readonly metricsAddress: string | undefined;
  readonly logLevel: string;
  /** `json` (default) or `pretty` (development; needs pino-pretty). */
  readonly logFormat: "json" | "pretty";
  /** A file to log to instead of stdout, rotated by the `logRotate*` settings. */
  readonly logFile: string | undefined;
  /** Rotates the log file at this size, such as `10m`. */
  readonly logRotateSize: string | undefined;
  /** Rotates the log file `daily`, `hourly`, or every so many milliseconds. */
  readonly logRotateFrequency: string | undefined;
  /** Rotated log files kept besides the current one. */
  readonly logRotateKeep: number | undefined;
  /**
   * Exports spans to this OTLP/HTTP collector (`--trace_endpoint`), over
   * OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT. Unset: spans are made and propagated, not exported.
   */
  readonly traceEndpoint: string | undefined;
  /** `http/protobuf` or `http/json` (`--trace_protocol`), over OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL. */
  readonly traceProtocol: TraceProtocol | undefined;
  /** Samples this ratio of new traces, parent-based (`--trace_sampler_ratio`), over OTEL_TRACES_SAMPLER. */
  readonly traceSamplerRatio: number | undefined;
}

/** Defaults, applied here and nowhere else. */
export const defaultServiceSettings: ServiceSettings = {
  registry: "local",
  registryAddress: [],
  registryAuth: undefined,
  registerTtlMs: registryDefaults.ttlMs,
  registerIntervalMs: registryDefaults.intervalMs,
  serverAddress: "127.0.0.1:0",
  serverAdvertise: undefined,
  clientRetries: 1,
  clientRequestTimeoutMs: 5_000,
  clientStreamTimeoutMs: undefined,
  clientPoolSize: 1,
  clientAttemptTimeout: "auto",
  clientTransport: "h2",
  serverTransport: "h2",
  clientKeepaliveMs: undefined,
  clientKeepaliveTimeoutMs: 20_000,
  serverKeepaliveMs: 2 * 60 * 60 * 1000,
  serverKeepaliveTimeoutMs: 20_000,
  serverCompression: "identity",
  clientCompression: "identity",
  serverMaxRecvMsgSize: 4 * 1024 * 1024,
  serverMaxSendMsgSize: -1,
  clientMaxRecvMsgSize: 4 * 1024 * 1024,
  clientMaxSendMsgSize: -1,
  selector: "leastinflight",
  shutdownGraceMs: 10_000,
  metricsAddress: undefined,
  logLevel: "info",
  logFormat: "json",
  logFile: undefined,
  logRotateSize: undefined,
  logRotateFrequency: undefined,
  logRotateKeep: undefined,
  traceEndpoint: undefined,
  traceProtocol: undefined,
  traceSamplerRatio: undefined,
};

type Parser = FlagParser<Partial<ServiceSettings>>;

/** A transport name: `grpc` (@grpc/grpc-js) or `h2` (tsmicro's own on node:http2). */
const wire = (value: string, source: string) => oneOf(value, source, ["grpc", "h2"]) as "grpc" | "h2";

/** go-micro's flags read a bare number as seconds. */
const duration = (value: string, source: string) => durationIn(value, source, 1000);

/**
 * A duration that must pass at all: a TTL of 0 expires at once, a heartbeat every 0 ms spins, a
 * call timeout of 0 fails every call unsent.
 */
function positiveDuration(value: string, source: string, example = "15s or 30s"): number {
  const ms = duration(value, source);
  if (ms > 0) return ms;
  throw new SetupError(
    "TSM_ERR_FLAG",
    source,
    JSON.stringify(value),
    `expected a duration above 0, such as ${example}`,
  );
}

/** `auto`, a duration, or `none`/`off`/0 for none. */
const attemptTimeout = (value: string, source: string): AttemptTimeout =>
  value.trim().toLowerCase() === "auto" ? "auto" : (optionalDuration(value, source) ?? "none");

/** A stream timeout or keepalive interval; `none`, `off` or 0 for none. */
const optionalDuration = (value: string, source: string) =>
  ["none", "off", "0"].includes(value.trim().toLowerCase()) ? undefined : duration(value, source);
const compression = (value: string, source: string) =>
  oneOf(value, source, ["gzip", "identity"]) as "gzip" | "identity";

/** A size as pino-roll reads it: a number of megabytes, or with `k`, `m` or `g`. */
function rotateSize(value: string, source: string): string {
  if (/^\d+(\.\d+)?[kmg]?$/i.test(value.trim())) return value.trim().toLowerCase();
  throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), "use a size such as 500k, 10m or 1g");
}

/** `daily`, `hourly`, or a number of milliseconds. */
function rotateFrequency(value: string, source: string): string {
  const v = value.trim().toLowerCase();
  if (v === "daily" || v === "hourly" || /^\d+$/.test(v)) return v;
  throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), "use daily, hourly or a number of milliseconds");
}

/**
 * `--server_address`: the `host:port` the server binds, refused as it is read
 * with the message ensureCanListen would give at start, so checkFlags() and
 * `tsmicro run` refuse it before a database is opened.
 */
function serverAddress(value: string, source: string): string {
  hostPort(value, source, listenRule);
  return value;
}

/** `--metrics_address`: `off`, or the `host:port` `/metrics` binds, refused as it is read as `--server_address` is. */
function metricsAddress(value: string, source: string): string {
  const address = value.trim();
  if (address.toLowerCase() === "off") return "off";
  hostPort(address, source, { ...listenRule, otherwise: ", or off" });
  return address;
}

/** `--server_advertise`: the `host:port` registered for callers (advertiseAddress). */
function serverAdvertise(value: string, source: string): string {
  advertiseAddress(value, source);
  return value;
}

const registries = ["local", "etcd", "memory"];

/** `--registry_address`: comma-separated etcd endpoints, or the local registry's folder. */
function registryAddress(value: string): Partial<ServiceSettings> {
  return {
    registryAddress: value
      .split(",")
      .map((a) => a.trim())
      .filter(Boolean),
  };
}
const selectors = ["roundrobin", "round_robin", "random", "leastinflight", "least_inflight", "p2c", "cache"];

/** The flags, by go-micro's names; each also reads `TSMICRO_<NAME>` and, as an alias, `MICRO_<NAME>`. */
const flags = {
  registry: (v, s) => ({ registry: oneOf(v, s, registries) }),
  registry_address: (v) => registryAddress(v),
  register_ttl: (v, s) => ({ registerTtlMs: positiveDuration(v, s) }),
  register_interval: (v, s) => ({ registerIntervalMs: positiveDuration(v, s) }),
  server_address: (v, s) => ({ serverAddress: serverAddress(v, s) }),
  server_advertise: (v, s) => ({ serverAdvertise: serverAdvertise(v, s) }),
  client_retries: (v, s) => ({ clientRetries: count(v, s, 0) }),
  client_request_timeout: (v, s) => ({ clientRequestTimeoutMs: positiveDuration(v, s, "500ms or 5s") }),
  client_stream_timeout: (v, s) => ({ clientStreamTimeoutMs: optionalDuration(v, s) }),
  client_pool_size: (v, s) => ({ clientPoolSize: count(v, s, 1) }),
  client_attempt_timeout: (v, s) => ({ clientAttemptTimeout: attemptTimeout(v, s) }),
  client_transport: (v, s) => ({ clientTransport: wire(v, s) }),
  server_transport: (v, s) => ({ serverTransport: wire(v, s) }),
  transport: (v, s) => ({ clientTransport: wire(v, s), serverTransport: wire(v, s) }),
  client_keepalive: (v, s) => ({ clientKeepaliveMs: optionalDuration(v, s) }),
  client_keepalive_timeout: (v, s) => ({ clientKeepaliveTimeoutMs: duration(v, s) }),
  server_keepalive: (v, s) => ({ serverKeepaliveMs: optionalDuration(v, s) ?? 0 }),
  server_keepalive_timeout: (v, s) => ({ serverKeepaliveTimeoutMs: duration(v, s) }),
  server_compression: (v, s) => ({ serverCompression: compression(v, s) }),
  client_compression: (v, s) => ({ clientCompression: compression(v, s) }),
  server_max_recv_msg_size: (v, s) => ({ serverMaxRecvMsgSize: byteSize(v, s) }),
  server_max_send_msg_size: (v, s) => ({ serverMaxSendMsgSize: byteSize(v, s) }),
  client_max_recv_msg_size: (v, s) => ({ clientMaxRecvMsgSize: byteSize(v, s) }),
  client_max_send_msg_size: (v, s) => ({ clientMaxSendMsgSize: byteSize(v, s) }),
  selector: (v, s) => ({ selector: oneOf(v, s, selectors) }),
  shutdown_grace: (v, s) => ({ shutdownGraceMs: duration(v, s) }),
  metrics_address: (v, s) => ({ metricsAddress: metricsAddress(v, s) }),
  log_level: (v, s) => ({ logLevel: oneOf(v, s, ["trace", "debug", "info", "warn", "error", "fatal", "silent"]) }),
  log_format: (v, s) => ({ logFormat: oneOf(v, s, ["json", "pretty"]) as "json" | "pretty" }),
  log_file: (v) => ({ logFile: v }),
  log_rotate_size: (v, s) => ({ logRotateSize: rotateSize(v, s) }),
  log_rotate_frequency: (v, s) => ({ logRotateFrequency: rotateFrequency(v, s) }),
  log_rotate_keep: (v, s) => ({ logRotateKeep: count(v, s, 0) }),
  trace_endpoint: (v, s) => ({ traceEndpoint: traceEndpoint(v, s) }),
  trace_protocol: (v, s) => ({ traceProtocol: traceProtocol(v, s) }),
  trace_sampler_ratio: (v, s) => ({ traceSamplerRatio: ratio(v, s) }),
} satisfies Record<string, Parser>;

/** The flag names a service understands. */
export const serviceFlagNames: readonly string[] = Object.keys(flags);

const defaults = defaultServiceSettings;

/** What `--help` says of each flag above; typed by their table, so a flag without one does not compile. */
export const serviceFlagUsage: Readonly<Record<keyof typeof flags, FlagUsage>> = {
  registry: {
    usage: "where services find each other: local (a folder on this machine), etcd, or memory (one process)",
    default: defaults.registry,
  },
  registry_address: {
    usage:
      "etcd endpoints, comma-separated (default 127.0.0.1:2379), each user:password@ first when etcd has authentication on (or ETCD_USERNAME and ETCD_PASSWORD); or the local registry's folder (default $XDG_RUNTIME_DIR/tsmicro-<uid>/registry, else under the OS temp folder)",
  },
  register_ttl: {
    usage: "how long a registration lives unless refreshed",
    default: durationText(defaults.registerTtlMs),
  },
  register_interval: {
    usage: "how often the registration is refreshed",
    default: durationText(defaults.registerIntervalMs),
  },
  server_address: {
    usage:
      "where the server binds (gRPC, or a web service's HTTP), host:port (port 0: a free one); 0.0.0.0:PORT in containers",
    default: defaults.serverAddress,
  },
  server_advertise: { usage: "the host:port registered for callers to dial, when not the bound one" },
  client_retries: {
    usage: "extra attempts on another node for retryable failures",
    default: String(defaults.clientRetries),
  },
  client_request_timeout: {
    usage: "timeout of unary calls that set none",
    default: durationText(defaults.clientRequestTimeoutMs),
  },
  client_stream_timeout: { usage: "timeout of streaming calls that set none; none for none", default: "none" },
  client_pool_size: {
    usage: "connections (HTTP/2 sessions, or grpc-js channels) per node",
    default: String(defaults.clientPoolSize),
  },
  client_attempt_timeout: {
    usage:
      "how long one attempt of an idempotent unary method may go unanswered before another node is tried: auto (learnt per method), a duration, or none",
    default: String(defaults.clientAttemptTimeout),
  },
  client_transport: {
    usage: "the wire under the clients: h2 (tsmicro's gRPC on node:http2) or grpc (@grpc/grpc-js)",
    default: defaults.clientTransport,
  },
  server_transport: { usage: "the wire under the server: h2 or grpc", default: defaults.serverTransport },
  transport: { usage: "sets both --client_transport and --server_transport" },
  client_keepalive: {
    usage: "pings each connection this often while it carries calls; none for never",
    default: "none",
  },
  client_keepalive_timeout: {
    usage: "how long a client's ping may go unanswered before its connection is dropped, failing its calls",
    default: durationText(defaults.clientKeepaliveTimeoutMs),
  },
  server_keepalive: {
    usage: "pings each client connection this often; none for never",
    default: durationText(defaults.serverKeepaliveMs),
  },
  server_keepalive_timeout: {
    usage: "how long the server's ping may go unanswered before the connection is dropped and its calls cancelled",
    default: durationText(defaults.serverKeepaliveTimeoutMs),
  },
  server_compression: {
    usage: "gzip compresses every response this server sends; identity for none",
    default: defaults.serverCompression,
  },
  client_compression: {
    usage: "gzip compresses every request; identity for none",
    default: defaults.clientCompression,
  },
  server_max_recv_msg_size: {
    usage: "largest request the server accepts: bytes, KB, MB (powers of 1024) or unlimited",
    default: sizeText(defaults.serverMaxRecvMsgSize),
  },
  server_max_send_msg_size: {
    usage: "largest response the server sends",
    default: sizeText(defaults.serverMaxSendMsgSize),
  },
  client_max_recv_msg_size: {
    usage: "largest response accepted; beyond it, RESOURCE_EXHAUSTED",
    default: sizeText(defaults.clientMaxRecvMsgSize),
  },
  client_max_send_msg_size: { usage: "largest request sent", default: sizeText(defaults.clientMaxSendMsgSize) },
  selector: {
    usage:
      "how a client picks a node: leastinflight (power of two choices weighed by latency; p2c), roundrobin or random",
    default: defaults.selector,
  },
  shutdown_grace: {
    usage: "how long shutdown waits for calls in flight before it cancels them",
    default: durationText(defaults.shutdownGraceMs),
  },
  metrics_address: {
    usage: "where GET /metrics is served, host:port; off for none (and no metrics recorded)",
    default: "the host of --server_address, a free port",
  },
  log_level: { usage: "trace, debug, info, warn, error, fatal or silent", default: defaults.logLevel },
  log_format: {
    usage: "json, or pretty: coloured text through pino-pretty, for development",
    default: defaults.logFormat,
  },
  log_file: { usage: "writes the logs to this file instead of stdout" },
  log_rotate_size: {
    usage: "rotates the --log_file once it reaches this size: megabytes, or with k, m or g (10m)",
  },
  log_rotate_frequency: { usage: "rotates the --log_file daily, hourly, or every so many milliseconds" },
  log_rotate_keep: { usage: "rotated log files kept besides the current one; older ones are deleted" },
  trace_endpoint: {
    usage:
      "exports spans to this OTLP/HTTP collector: a base URL such as http://jaeger:4318, or the full traces URL; unset, spans are made and propagated but not exported",
    alsoFrom: ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"],
  },
  trace_protocol: {
    usage: "how spans are sent: http/protobuf or http/json",
    default: defaultTraceProtocol,
    alsoFrom: ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"],
  },
  trace_sampler_ratio: {
    usage:
      "samples this ratio (0 to 1) of new traces, parent-based (a caller's decision is kept); wins over OTEL_TRACES_SAMPLER",
    default: "1, every trace",
  },
};

/**
 * Resolves settings: defaults, then the code's options, then `MICRO_*`,
 * then `TSMICRO_*` variables, then flags. Flags a service does not know are
 * left for the program; a known flag with a bad value is a SetupError
 * naming the flag or variable.
 */
export function resolveServiceSettings(
  overrides: Partial<ServiceSettings>,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ServiceSettings {
  // Which flag or variable gave the registry's addresses, to name it when one is malformed.
  let addressSource = "--registry_address";
  const table: Record<string, Parser> = {
    ...flags,
    registry_address: (v, s) => {
      addressSource = s;
      return registryAddress(v);
    },
  };
  const given = readFlags(table, args, env, {} as Partial<ServiceSettings>, (base, over) => ({ ...base, ...over }));
  const registryAuth = etcdCredentialsFromEnv(env);
  const settings = { ...defaultServiceSettings, ...overrides, ...given, ...(registryAuth ? { registryAuth } : {}) };
  // etcd endpoints are checked as they are read, before anything dials them; the local registry's is a folder.
  if (settings.registry === "etcd") etcdEndpoints(settings.registryAddress, addressSource);
  if (settings.registry === "local") localRegistryFolder(settings.registryAddress, addressSource);
  return settings;
}

/**
 * Refuses an etcd address given to the local registry, whose address is a folder: go-micro users set
 * `--registry_address 127.0.0.1:2379` with the registry left at its default, and the local registry
 * would make a folder of that name and find nothing registered there.
 */
function localRegistryFolder(addresses: readonly string[], source: string): void {
  const endpoint = addresses.find(
    (address) => /^[a-z][a-z0-9+.-]*:\/\//i.test(address) || /^[^/\\]*:\d+$/.test(address),
  );
  if (endpoint === undefined && addresses.length < 2) return;
  throw new SetupError(
    "TSM_ERR_FLAG",
    source,
    JSON.stringify(addresses.join(",")),
    `the local registry (--registry local, the default) takes one folder, and this is ${endpoint === undefined ? "a list" : "an etcd endpoint"}; ` +
      "add --registry=etcd to use etcd, or give a folder",
  );
}

/**
 * Where a service's `/metrics` endpoint listens, or undefined when
 * `--metrics_address=off`: by default the host of `--server_address` on a
 * free port, as many services share one machine in the embedded default.
 */
export function metricsListenAddress(settings: ServiceSettings): string | undefined {
  if (settings.metricsAddress === "off") return undefined;
  if (settings.metricsAddress !== undefined) return settings.metricsAddress;
  const server = settings.serverAddress;
  return `${server.slice(0, server.lastIndexOf(":"))}:0`;
}

/** The gRPC server transport options these settings select (compression, message limits, keepalive). */
export function serverTransportSettings(settings: ServiceSettings) {
  return {
    keepaliveMs: settings.serverKeepaliveMs,
    keepaliveTimeoutMs: settings.serverKeepaliveTimeoutMs,
    compression: settings.serverCompression,
    maxReceiveMessageBytes: settings.serverMaxRecvMsgSize,
    maxSendMessageBytes: settings.serverMaxSendMsgSize,
  } as const;
}

/**
 * The logger options these settings select: level, format and a rotated file. Rotation without
 * a file is a SetupError naming the flag: it would be ignored, and the logs not rotated.
 */
export function loggerSettings(settings: ServiceSettings): Pick<LoggerOptions, "level" | "format" | "file"> {
  const { logFile, logRotateSize, logRotateFrequency, logRotateKeep } = settings;
  if (logFile === undefined) {
    const rotation = Object.entries({
      log_rotate_size: logRotateSize,
      log_rotate_frequency: logRotateFrequency,
      log_rotate_keep: logRotateKeep,
    }).find(([, value]) => value !== undefined);
    if (rotation)
      throw new SetupError(
        "TSM_ERR_FLAG",
        `--${rotation[0]}`,
        JSON.stringify(String(rotation[1])),
        "rotation is of a log file: give --log_file PATH too (without one, logs go to stdout, for the process manager to keep)",
      );
  }
  const file = logFile
    ? {
        path: logFile,
        ...(logRotateSize ? { size: logRotateSize } : {}),
        ...(logRotateFrequency ? { frequency: logRotateFrequency } : {}),
        ...(logRotateKeep === undefined ? {} : { keep: logRotateKeep }),
      }
    : undefined;
  return { level: settings.logLevel, format: settings.logFormat, ...(file ? { file } : {}) };
}
