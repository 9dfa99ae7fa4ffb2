import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bins, repoTempDir, run } from "./support/cli.js";
import { runCreate } from "./support/project.js";

// A workspace as tsmicro new leaves one, reduced to what generate and routes read: the shared proto/,
// and services/inventory and services/order owning their folders of it. One gateway serves both.
const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A proto of package `name`.v1 whose service binds each rpc of `rpcs` (name → GET path). */
function proto(name: string, rpcs: Record<string, string>, extra = ""): string {
  const service = `${name[0]!.toUpperCase()}${name.slice(1)}Service`;
  const methods = Object.entries(rpcs)
    .map(
      ([rpc, path]) => `  rpc ${rpc}(Request) returns (Request) { option (google.api.http) = { get: "${path}" }; }\n`,
    )
    .join("");
  return `syntax = "proto3";\npackage ${name}.v1;\nimport "google/api/annotations.proto";\n${extra}service ${service} {\n${methods}}\nmessage Request { string id = 1; }\n`;
}

/** The workspace with its two services; `protos` (path under proto/ → source) added or replacing. */
async function workspace(protos: Record<string, string> = {}): Promise<string> {
  const root = await repoTempDir("ws-routes");
  temps.push(root);
  await writeFile(join(root, "tsmicro.json"), JSON.stringify({ workspace: true, proto: "proto" }));
  for (const name of ["inventory", "order"]) {
    await mkdir(join(root, "services", name), { recursive: true });
    await writeFile(
      join(root, "services", name, "tsmicro.json"),
      JSON.stringify({ type: "api", name, proto: "../../proto", owns: name, out: "src/gen" }),
    );
  }
  const files = {
    "inventory/v1/inventory.proto": proto("inventory", { GetInventory: "/v1/inventories/{id}" }),
    "order/v1/order.proto": proto("order", { GetOrder: "/v1/orders/{id}" }),
    ...protos,
  };
  for (const [path, source] of Object.entries(files)) {
    await mkdir(join(root, "proto", path, ".."), { recursive: true });
    await writeFile(join(root, "proto", path), source);
  }
  return root;
}

const tsmicro = (cwd: string, ...args: string[]) => run("node", [bins.tsmicro, ...args], { cwd });

/** order takes inventory's route, and clashes with itself on /v1/orders/{id}. */
const stealing = {
  "order/v1/order.proto": proto("order", {
    PeekInventory: "/v1/inventories/{id}",
    GetOrder2: "/v1/orders/{id}",
    GetOrder: "/v1/orders/{id}",
  }),
};

const across =
  "tsmicro: warning: inventory/v1/inventory.proto, order/v1/order.proto: GET /v1/inventories/* is claimed by " +
  "inventory.v1.InventoryService.GetInventory of service inventory (/v1/inventories/{id}), " +
  "order.v1.OrderService.PeekInventory of service order (/v1/inventories/{id}); " +
  "order.v1.OrderService.PeekInventory of service order serves it, the others are unreachable\n";
const within =
  "tsmicro: warning: order/v1/order.proto: GET /v1/orders/* is claimed by order.v1.OrderService.GetOrder2 " +
  "(/v1/orders/{id}), order.v1.OrderService.GetOrder (/v1/orders/{id}); order.v1.OrderService.GetOrder serves it, " +
  "the others are unreachable\n";

describe("a workspace's routes are checked together, as its one gateway serves them", () => {
  it("tsmicro routes warns of a route two services claim, once, at the root and in each service's folder", async () => {
    const root = await workspace(stealing);
    const atRoot = await tsmicro(root, "routes");
    expect(atRoot.code, atRoot.stderr).toBe(0);
    expect(atRoot.stderr).toBe(across + within);
    // A service's folder lists its own routes, and warns of the clashes its routes are in.
    const inOrder = await tsmicro(join(root, "services/order"), "routes");
    expect(inOrder.stderr).toBe(across + within);
    expect(inOrder.stdout).not.toContain("GetInventory");
    const inInventory = await tsmicro(join(root, "services/inventory"), "routes");
    expect(inInventory.stderr).toBe(across);
  });

  it("tsmicro generate at the root warns of each clash once; --strict_routes fails and writes nothing", async () => {
    const root = await workspace(stealing);
    const strict = await tsmicro(root, "generate", "--strict_routes");
    expect(strict.code).toBe(1);
    // Both conflicts, in one error.
    const line = (warning: string) => warning.replace("tsmicro: warning: ", "").trimEnd();
    expect(strict.stderr).toBe(
      `tsmicro: 2 route conflicts: (1) ${line(across)}; (2) ${line(within)}; strict_routes makes this an error: bind each method to its own route\n`,
    );
    expect(existsSync(join(root, "services/order/src/gen"))).toBe(false);

    const generated = await tsmicro(root, "generate");
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stderr).toBe(across + within);
    // In a service's folder, generate checks its routes against the other services' too.
    const inInventory = await tsmicro(join(root, "services/inventory"), "generate");
    expect(inInventory.code, inInventory.stderr).toBe(0);
    expect(inInventory.stderr).toBe(across);
  });

  it("generate warns of a route of one service that takes some paths of another's", async () => {
    const root = await workspace({
      "order/v1/order.proto": proto("order", { GetOrder: "/v1/orders/{id}", Browse: "/v1/{id=inventories/**}" }),
    });
    const result = await tsmicro(root, "generate");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe(
      "tsmicro: warning: inventory/v1/inventory.proto, order/v1/order.proto: GET /v1/inventories/{id} " +
        "(inventory.v1.InventoryService.GetInventory of service inventory) and GET /v1/{id=inventories/**} " +
        "(order.v1.OrderService.Browse of service order) both match paths such as /v1/inventories/x; " +
        "order.v1.OrderService.Browse of service order serves those\n",
    );
  });

  it("a proto's error names the service that owns it, or none when no service does", async () => {
    // order's route names a field its request lacks; every service compiles order's proto for its client.
    const bad = await workspace({
      "order/v1/order.proto": proto("order", { GetOrder: "/v1/orders/{order_id}" }),
    });
    const owned = await tsmicro(bad, "generate");
    expect(owned.code).toBe(1);
    expect(owned.stderr).toMatch(
      /^tsmicro: services\/order: proto\/order\/v1\/order\.proto:\d+:\d+: rpc OrderService\.GetOrder/,
    );

    // A proto no service owns (yet): its error is the proto's alone.
    const unowned = await workspace({
      "shipping/v1/shipping.proto": proto("shipping", { GetShipment: "/v1/shipments/{shipment_id}" }),
    });
    const none = await tsmicro(unowned, "generate");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /^tsmicro: proto\/shipping\/v1\/shipping\.proto:\d+:\d+: rpc ShippingService\.GetShipment/,
    );
  });

  it("a warning every service's generate gives is printed once", async () => {
    const root = await workspace();
    await mkdir(join(root, "tpl"));
    await writeFile(join(root, "tpl/unused.ejs"), "never included\n");
    const result = await tsmicro(root, "generate", "--templates", "tpl");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe(
      `tsmicro: warning: ${join(root, "tpl/unused.ejs")} overrides no template tsmicro ships, and none includes it, so it is not used\n`,
    );
  });

  it("tsmicro new checks routes as generate at the root does: a proto no service owns is no service's routes", async () => {
    const parent = await repoTempDir("ws-new-routes");
    temps.push(parent);
    const made = await runCreate(["shop", "--workspace", "--no-install"], parent);
    expect(made.code, made.stderr).toBe(0);
    const root = join(parent, "shop");
    // Another team's service, copied in to be called, on the paths the new user service binds.
    const accounts = proto("accounts", { GetAccount: "/v1/users/{id}" });
    await mkdir(join(root, "proto/accounts/v1"), { recursive: true });
    await writeFile(join(root, "proto/accounts/v1/accounts.proto"), accounts);
    const user = await tsmicro(root, "new", "user", "--no-install");
    expect(user.code, user.stderr).toBe(0);
    expect(user.stderr).toBe("");
    // A service of the workspace taking user's paths is warned about, naming both services, once.
    const memberProto = join(root, "member.proto");
    await writeFile(memberProto, proto("member", { GetMember: "/v1/users/{id}" }));
    const member = await tsmicro(root, "new", "member", "--proto", memberProto, "--no-install");
    expect(member.code, member.stderr).toBe(0);
    expect(member.stderr).toBe(
      "tsmicro: warning: member/v1/member.proto, user/v1/user.proto: GET /v1/users/* is claimed by " +
        "member.v1.MemberService.GetMember of service member (/v1/users/{id}), " +
        "user.v1.UserService.GetUser of service user (/v1/users/{id}); " +
        "user.v1.UserService.GetUser of service user serves it, the others are unreachable\n",
    );
  });
});
