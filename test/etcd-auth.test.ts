import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configGet, configSet } from "../runtime/src/config/config-commands.js";
import { etcdSource } from "../runtime/src/config/etcd-source.js";
import { isSetupError } from "../runtime/src/errors/setup-error.js";
import type { Registry, Service } from "../runtime/src/registry/registry.js";
import { createRegistry } from "../runtime/src/service/create-registry.js";
import { resolveServiceSettings } from "../runtime/src/service/settings.js";
import { etcdProgram, startEtcdCluster, type EtcdCluster } from "./support/etcd.js";

const describeEtcd = etcdProgram ? describe : describe.skip;

// Characters a URL's password must percent-encode, to show the address is decoded as a URL's.
const password = "p@ss:w/rd%";
const encoded = encodeURIComponent(password);

function greeter(id: string): Service {
  return {
    name: "greeter",
    version: "1.0.0",
    metadata: {},
    endpoints: [],
    nodes: [{ id, address: "127.0.0.1:50001", metadata: { protocol: "grpc" } }],
  };
}

/** The registry a service makes of `args` and `env`, as it does at start. */
function registryOf(args: readonly string[], env: Record<string, string> = {}): Registry {
  return createRegistry(resolveServiceSettings({}, ["--registry=etcd", ...args], env));
}

/** The SetupError `promise` rejects with. */
async function setupError(promise: Promise<unknown>): Promise<Error & { code: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isSetupError(error)) throw new Error(`expected a SetupError, got ${String(error)}`);
  return error;
}

describeEtcd("etcd with authentication enabled", () => {
  let cluster: EtcdCluster;
  let endpoint: string;
  let hostPort: string;

  beforeAll(async () => {
    cluster = await startEtcdCluster({ members: 1 });
    endpoint = cluster.endpoints[0]!;
    hostPort = endpoint.replace("http://", "");
    const admin = new Etcd3({ hosts: [endpoint] });
    try {
      await admin.role("root").create();
      await admin.user("root").create(password);
      await admin.user("root").addRole("root");
      // A user with no role: etcd authenticates it and lets it read nothing.
      await admin.user("nobody").create("pw");
      await admin.auth.authEnable();
    } finally {
      admin.close();
    }
  });
  afterAll(() => cluster?.stop());

  it("registers and discovers through a user in --registry_address, or in ETCD_USERNAME and ETCD_PASSWORD", async () => {
    const server = registryOf([`--registry_address=http://root:${encoded}@${hostPort}`]);
    // go-micro's spelling: no scheme, the user before the host.
    const caller = registryOf([`--registry_address=${hostPort}`], { ETCD_USERNAME: "root", ETCD_PASSWORD: password });
    await server.start();
    await caller.start();
    try {
      const watcher = caller.watch({ service: "greeter" });
      await server.register(greeter("greeter-1"), { ttlMs: 10_000 });
      expect((await caller.getService("greeter")).flatMap((s) => s.nodes.map((n) => n.id))).toEqual(["greeter-1"]);
      const { value: event } = await watcher[Symbol.asyncIterator]().next();
      expect(event.action).toBe("create");
      expect(event.service.nodes[0]?.id).toBe("greeter-1");
      watcher.stop();
      await server.deregister(greeter("greeter-1"));
    } finally {
      await caller.stop();
      await server.stop();
    }
  });

  it("says authentication failed for the user at the address on a wrong password, and never shows the password", async () => {
    const registry = registryOf([`--registry_address=root:not-${encoded}@${hostPort}`]);
    const error = await setupError(registry.start());
    expect(error.code).toBe("TSM_ERR_ETCD_AUTH");
    expect(error.message).toBe(
      `etcd at ${hostPort} refused the user "root": authentication failed (wrong user name or password); correct the user and password in --registry_address (user:password@host:2379) or ETCD_USERNAME and ETCD_PASSWORD`,
    );
    expect(error.message).not.toContain("not-");
  });

  it("says etcd asks for a user when none is given", async () => {
    const error = await setupError(registryOf([`--registry_address=${endpoint}`]).start());
    expect(error.code).toBe("TSM_ERR_ETCD_AUTH");
    expect(error.message).toContain(
      `etcd at ${endpoint} has authentication enabled and no user was given; give one in --registry_address`,
    );
  });

  it("says which keys a user without a role on them may not read, and how to grant them", async () => {
    const error = await setupError(registryOf([`--registry_address=nobody:pw@${hostPort}`]).start());
    expect(error.code).toBe("TSM_ERR_ETCD_AUTH");
    expect(error.message).toBe(
      `etcd at ${hostPort} denied the user "nobody" access to /micro/registry/ (permission denied); grant the user a role with readwrite on the prefix /micro/registry/ (etcdctl role grant-permission ROLE --prefix=true readwrite /micro/registry/), or name another user in --registry_address (user:password@host:2379) or ETCD_USERNAME and ETCD_PASSWORD`,
    );
  });

  it("reads and writes the config centre with the user in the address", async () => {
    const options = { addresses: [`http://root:${encoded}@${hostPort}`], service: "greeter" };
    await configSet(options, "greeting", '"hello"');
    expect(await configGet(options, "greeting")).toBe('"hello"\n');
    const tree = await etcdSource({ ...options, addresses: [endpoint], auth: { username: "root", password } }).read();
    expect(tree).toEqual({ greeting: "hello" });

    const error = await setupError(configGet({ ...options, addresses: [`root:wrong@${hostPort}`] }, "greeting"));
    expect(error.code).toBe("TSM_ERR_ETCD_AUTH");
    expect(error.message).toContain(`etcd at ${hostPort} refused the user "root": authentication failed`);
  });
});
