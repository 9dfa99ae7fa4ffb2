import {
  codeName,
  connect,
  createClient,
  createDirectCaller,
  createRegistry,
  isTsmicroError,
  silentLogger,
  type Registry,
  type Service,
} from "@tsmicro/runtime";
import {
  breakerFlagNames,
  clientTransportOf,
  HealthCheckResponse_ServingStatus,
  HealthDefinition,
  httpNodeHealth,
  isHttpNode,
  resolveServiceSettings,
  serviceFlagNames,
} from "@tsmicro/runtime/internal";
import { closestName } from "@tsmicro/runtime/errors";
import type { Argv } from "yargs";
import { failureReason } from "./call-failure.js";
import { CommandError } from "./command-error.js";

/** What the client flags do, for `--help`; the names themselves come from the runtime, so they cannot drift. */
const clientFlagHelp: Readonly<Record<string, string>> = {
  client_retries: "extra attempts on another node for retryable failures (default 1)",
  client_request_timeout: "timeout of a call, such as 5s (default) or 500ms",
  client_stream_timeout: "timeout of a streaming call (default none)",
  client_pool_size: "connections per node (default 1)",
  client_attempt_timeout:
    "auto (default), a duration or none: when an idempotent call's attempt is given up for another node",
  client_transport: "h2 (default) or grpc (grpc-js): the wire under the client",
  transport: "as a service's --transport; here the same as --client_transport",
  client_keepalive: "pings a connection this often while it carries calls (default none)",
  client_keepalive_timeout: "drops a connection whose ping goes unanswered this long (default 20s)",
  client_compression: "gzip or identity (default)",
  client_max_recv_msg_size: "largest response accepted, such as 4mb (default); unlimited (or -1) for none",
  client_max_send_msg_size: "largest request sent (default no limit)",
  selector: "leastinflight (default: power of two choices, weighed by latency), roundrobin or random",
  breaker: "on (default) or off: a circuit breaker per method",
  breaker_error_threshold: "percent of failed calls that opens the circuit breaker",
  breaker_volume_threshold: "calls in the window before the breaker may open",
  breaker_reset_timeout: "how long an open breaker waits before a trial call",
  breaker_window: "the breaker's rolling window",
  breaker_buckets: "buckets of the breaker's rolling window",
  breaker_timeout: "a call slower than this counts as a breaker failure",
  breaker_max_concurrent: "calls of a method in flight at once, beyond which they fail fast (default 0: no limit)",
};

/**
 * The client flags of `call` and `health`, spelled exactly as a service's: `--client_*`, `--selector`,
 * `--breaker_*`, and `--transport`, so the flag a service was started with reaches it too.
 */
export const clientFlagNames: readonly string[] = [
  ...serviceFlagNames.filter((name) => name.startsWith("client_") || name === "selector" || name === "transport"),
  ...breakerFlagNames,
];

/** Declares the client flags on a command, as strings: the runtime parses and checks them (durations, sizes). */
export function clientFlags<T>(y: Argv<T>): Argv<T> {
  let argv = y;
  for (const name of clientFlagNames) {
    argv = argv.option(name, { type: "string", describe: clientFlagHelp[name] ?? "as a service's flag of this name" });
  }
  return argv;
}

/** The client flags given on the command line, as `--name=value` for the runtime's own flag parsing. */
export function clientArgs(argv: Readonly<Record<string, unknown>>): string[] {
  return clientFlagNames.flatMap((name) => (argv[name] === undefined ? [] : [`--${name}=${String(argv[name])}`]));
}

/** Runs `use` with the registry the registry flags (`--registry`, `--registry_address`, env) name, stopping it after. */
export async function withRegistry<T>(args: readonly string[], use: (registry: Registry) => Promise<T>): Promise<T> {
  const settings = resolveServiceSettings({}, args, process.env);
  const registry = createRegistry(settings);
  await registry.start();
  try {
    return await use(registry);
  } finally {
    await registry.stop();
  }
}

/** `tsmicro list services`: one registered service name per line, sorted; one line saying so when there are none. */
export async function listServices(registry: Registry): Promise<string> {
  const names = [...new Set((await registry.listServices()).map((service) => service.name))].sort();
  if (names.length === 0) return "no services registered\n";
  return names.map((name) => `${name}\n`).join("");
}

/** How many registered names a not-found message lists. */
const listedNames = 10;

/** A service missing from the registry, in words: where it was looked for, and the name meant or those there are. */
export async function serviceNotFound(registry: Registry, name: string): Promise<string> {
  const names = [...new Set((await registry.listServices()).map((service) => service.name))].sort();
  const meant = closestName(name, names);
  const there =
    meant !== undefined
      ? `: did you mean ${meant}?`
      : names.length === 0
        ? "; no service is registered there"
        : `; registered: ${names.slice(0, listedNames).join(", ")}${names.length > listedNames ? ", …" : ""}`;
  return `service ${name} not found in the ${registry.kind} registry${there}`;
}

/** `tsmicro get service NAME`: versions, nodes and endpoints, as `micro get service` prints them. */
export async function getService(registry: Registry, name: string, json: boolean): Promise<string> {
  const versions = await registry.getService(name);
  if (versions.length === 0) throw new CommandError(await serviceNotFound(registry, name));
  if (json) return `${JSON.stringify(versions, null, 2)}\n`;
  return versions.map(describe).join("\n");
}

function describe(service: Service): string {
  const metadata = (m: Readonly<Record<string, string>>) =>
    Object.entries(m)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
  const lines = [`service  ${service.name}`, "", `version ${service.version}`, "", "ID\tAddress\tMetadata"];
  for (const node of service.nodes) lines.push(`${node.id}\t${node.address}\t${metadata(node.metadata)}`);
  for (const endpoint of service.endpoints) {
    const { topic } = endpoint.metadata;
    if (topic !== undefined) {
      lines.push(
        "",
        `Event: ${endpoint.name}`,
        "",
        `Topic: ${topic} (${eventRole(endpoint.metadata)})`,
        "",
        `Message: ${endpoint.request}`,
      );
      continue;
    }
    // As micro get service prints an endpoint's metadata under its name: here its kind says whether it streams.
    lines.push(
      "",
      `Endpoint: ${endpoint.name}`,
      `Metadata: ${metadata(endpoint.metadata)}`,
      "",
      `Request: ${endpoint.request}`,
      "",
      `Response: ${endpoint.response}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** How a service uses an event it lists: it publishes it, or subscribes (in a queue group, or on every node). */
function eventRole(metadata: Readonly<Record<string, string>>): string {
  if (metadata["subscriber"] !== "true") return "publishes";
  return metadata["queue"] ? `subscribes, queue ${metadata["queue"]}` : "subscribes, every node";
}

/** What `tsmicro health` found: one line per node, and a summary when some node is not serving. */
export interface HealthReport {
  readonly output: string;
  readonly healthy: boolean;
  /** Empty when every node is SERVING. */
  readonly summary: string;
}

/**
 * `tsmicro health SERVICE`: each node's grpc.health.v1 status, one line per
 * node; fails unless every node is SERVING. It asks every node itself rather
 * than through the selector, which would steer around a dead node and hide
 * it; the client flags (timeout, message limits, compression) still apply.
 * A node that cannot be asked shows the code and a sentence, never the
 * library's text.
 */
export async function healthOf(registry: Registry, name: string, args: readonly string[]): Promise<HealthReport> {
  // connect() checks the client flags the same way a call does; a bad one is a SetupError before anything is dialed.
  const connection = connect({ registry, args, env: process.env, logger: silentLogger() });
  const { settings } = connection;
  const nodes = (await registry.getService(name)).flatMap((service) => service.nodes);
  if (nodes.length === 0) throw new CommandError(await serviceNotFound(registry, name));
  const transport = clientTransportOf(settings);
  try {
    const results = await Promise.all(
      nodes.map(async (node) => {
        // A web service's node speaks HTTP: it is up when it answers at all.
        if (isHttpNode(node))
          return { node, status: await httpNodeHealth(node.address, settings.clientRequestTimeoutMs) };
        const health = createClient(
          HealthDefinition,
          createDirectCaller({ transport, address: node.address, requestTimeoutMs: settings.clientRequestTimeoutMs }),
        );
        try {
          const { status } = await health.check({ service: "" });
          return { node, status: HealthCheckResponse_ServingStatus[status] ?? String(status) };
        } catch (error) {
          if (!isTsmicroError(error)) throw error;
          const reason = failureReason(error, node.address, settings.clientRequestTimeoutMs);
          return { node, status: `${codeName(error.code)}: ${reason}` };
        }
      }),
    );
    const output = results.map(({ node, status }) => `${node.id}\t${node.address}\t${status}\n`).join("");
    const failing = results.filter((r) => r.status !== "SERVING").length;
    const summary =
      failing === 0
        ? ""
        : `${failing} of ${results.length} nodes of ${name} ${failing === 1 ? "is" : "are"} not serving`;
    return { output, healthy: failing === 0, summary };
  } finally {
    await transport.close();
    await connection.stop();
  }
}
