import {
  createClient,
  createDirectCaller,
  createGrpcClientTransport,
  createRegistry,
  HealthCheckResponse_ServingStatus,
  HealthDefinition,
  resolveServiceSettings,
  type Registry,
  type Service,
} from "@tsmicro/runtime";

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

/** `tsmicro list services`: one registered service name per line, sorted. */
export async function listServices(registry: Registry): Promise<string> {
  const names = [...new Set((await registry.listServices()).map((service) => service.name))].sort();
  return names.map((name) => `${name}\n`).join("");
}

/** `tsmicro get service NAME`: versions, nodes and endpoints, as `micro get service` prints them. */
export async function getService(registry: Registry, name: string, json: boolean): Promise<string> {
  const versions = await registry.getService(name);
  if (versions.length === 0) throw new CommandError(`service ${name} not found in the ${registry.kind} registry`);
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
    lines.push(
      "",
      `Endpoint: ${endpoint.name}`,
      "",
      `Request: ${endpoint.request}`,
      "",
      `Response: ${endpoint.response}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** `tsmicro health SERVICE`: each node's grpc.health.v1 status; fails unless every node is SERVING. */
export async function healthOf(registry: Registry, name: string): Promise<{ output: string; healthy: boolean }> {
  const nodes = (await registry.getService(name)).flatMap((service) => service.nodes);
  if (nodes.length === 0) throw new CommandError(`service ${name} not found in the ${registry.kind} registry`);
  const transport = createGrpcClientTransport();
  try {
    const results = await Promise.all(
      nodes.map(async (node) => {
        const health = createClient(
          HealthDefinition,
          createDirectCaller({ transport, address: node.address, requestTimeoutMs: 3_000 }),
        );
        try {
          const { status } = await health.check({ service: "" });
          return { node, status: HealthCheckResponse_ServingStatus[status] ?? String(status) };
        } catch (error) {
          return { node, status: `UNREACHABLE (${error instanceof Error ? error.message : String(error)})` };
        }
      }),
    );
    const output = results.map(({ node, status }) => `${node.id}\t${node.address}\t${status}\n`).join("");
    return { output, healthy: results.every((r) => r.status === "SERVING") };
  } finally {
    await transport.close();
  }
}

/** A command failed because of what the user asked for; printed without a stack, exit status 1. */
export class CommandError extends Error {
  override readonly name = "CommandError";
}
