import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { runCreate } from "./support/project.js";

// What tsmicro new says about the workspace's docker compose files, which it never edits: names that would
// clash there, refused before anything is written, and the web gateway's command for a web service's namespace.
let work = "";
let root = "";

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "tsmicro-compose-"));
  root = join(work, "shop");
  const created = await runCreate(["shop", "--workspace", "--no-install"], work);
  expect(created.code, created.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** `tsmicro new ...args` at the workspace root, without npm install. */
async function newService(...args: string[]) {
  return runCreate([...args, "--no-install"], root);
}

/** The workspace's services/ and proto/ folders, to show a refused name left nothing behind. */
async function entries(): Promise<string[]> {
  const services = await readdir(join(root, "services")).catch(() => []);
  const protos = await readdir(join(root, "proto")).catch(() => []);
  return [...services.map((name) => `services/${name}`), ...protos.map((name) => `proto/${name}`)].sort();
}

describe("tsmicro new in a workspace, and its docker compose files", () => {
  it("refuses a name the root's docker-compose.yml runs already, before writing anything", async () => {
    const before = await entries();
    const gateway = await newService("gateway", "--type", "web");
    expect(gateway.code).not.toBe(0);
    expect(gateway.stderr).toContain(
      'project name "gateway" is not a usable name: its compose.yml would define the compose service gateway ' +
        "(the service itself), which docker-compose.yml defines already, and docker compose up at the workspace " +
        "root stops on two services of one name; choose another name, or keep it and give --alias another",
    );
    // The name the compose file gets is the alias: --alias is named when it is the one that clashes.
    const aliased = await newService("tracing", "--alias", "jaeger", "--type", "web");
    expect(aliased.code).not.toBe(0);
    expect(aliased.stderr).toContain('--alias "jaeger" is not a usable name: its compose.yml would define');
    expect(aliased.stderr).toContain("; choose another name\n");
    expect(await entries()).toEqual(before);
  });

  it("refuses a name whose database jobs, or whose own, another service's compose.yml defines", async () => {
    const user = await newService("user");
    expect(user.code, user.stderr).toBe(0);
    const migrate = await newService("user-migrate", "--type", "web");
    expect(migrate.code).not.toBe(0);
    expect(migrate.stderr).toContain(
      'project name "user-migrate" is not a usable name: its compose.yml would define the compose service ' +
        "user-migrate (the service itself), which services/user/compose.yml defines already",
    );
    // A service with a database: its jobs are known once its proto is read, and nothing is kept either.
    const web = await newService("stock-database", "--type", "web");
    expect(web.code, web.stderr).toBe(0);
    const before = await entries();
    const stock = await newService("stock");
    expect(stock.code).not.toBe(0);
    expect(stock.stderr).toContain(
      'project name "stock" is not a usable name: its compose.yml would define the compose service ' +
        "stock-database (the job that creates its database), which services/stock-database/compose.yml defines already",
    );
    expect(await entries()).toEqual(before);
    await rm(join(root, "services/stock-database"), { recursive: true });
  }, 120_000);

  it("prints the web gateway's command with a web service's namespace, as it prints the include: line", async () => {
    const site = await newService("site", "--type", "web", "--namespace", "shop");
    expect(site.code, site.stderr).toBe(0);
    const command =
      '["node_modules/.bin/tsmicro", "api", "--handler=web", "--address=0.0.0.0:8082", "--namespace=shop.web"]';
    expect(site.stdout).toContain(
      "to reach shop.web.site through web-gateway under docker compose up, change web-gateway's command in the " +
        `workspace's docker-compose.yml to:\n  command: ${command}\n`,
    );
    const readme = await readFile(join(root, "services/site/README.md"), "utf8");
    expect(readme.replace(/\s+/g, " ")).toContain(
      "(give that gateway's command `--namespace=shop.web`, as `tsmicro new` printed)",
    );
    // Done as printed: the file still reads, and a second web service of that namespace needs nothing more.
    const rootPath = join(root, "docker-compose.yml");
    const original = await readFile(rootPath, "utf8");
    const changed = original.replace(/command: \[(.*)"--handler=web"(.*)\]/, `command: ${command}`);
    expect(changed).not.toBe(original);
    await writeFile(rootPath, changed);
    const parsed = parseYaml(changed) as { services: Record<string, { command: string[] }> };
    expect(parsed.services["web-gateway"]!.command).toContain("--namespace=shop.web");
    const blog = await newService("blog", "--type", "web", "--namespace", "shop");
    expect(blog.code, blog.stderr).toBe(0);
    expect(blog.stdout).not.toContain("web-gateway");
    // Another namespace: one gateway serves one, so a second gateway is what it takes.
    const wiki = await newService("wiki", "--type", "web", "--namespace", "docs");
    expect(wiki.code, wiki.stderr).toBe(0);
    expect(wiki.stdout).toContain(
      "web-gateway in the workspace's docker-compose.yml serves the namespace shop.web, and a web gateway serves one namespace:\n" +
        "  to reach docs.web.wiki, add a second web gateway (a copy of web-gateway on another port) with --namespace=docs.web\n",
    );
    // Without a namespace, the web gateway reaches it as it is.
    await writeFile(rootPath, original);
    const plain = await newService("home", "--type", "web");
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).not.toContain("web-gateway");
    expect(existsSync(join(root, "services/home/compose.yml"))).toBe(true);
  }, 120_000);

  it("prints the gateway's command with an API service's namespace, and the command to run it locally", async () => {
    const edge = await newService("edge", "--type", "api", "--namespace", "shop");
    expect(edge.code, edge.stderr).toBe(0);
    expect(edge.stdout).toContain(
      "  npx tsmicro api --namespace=shop.api   # the HTTP gateway in front of shop.api.edge\n",
    );
    const command = '["node_modules/.bin/tsmicro", "api", "--address=0.0.0.0:8080", "--namespace=shop.api"]';
    expect(edge.stdout).toContain(
      "to reach shop.api.edge through gateway under docker compose up, change gateway's command in the " +
        `workspace's docker-compose.yml to:\n  command: ${command}\n`,
    );
    // Only the gateway of its handler: the web gateway does not serve API services.
    expect(edge.stdout).not.toContain("web-gateway");
    const readme = await readFile(join(root, "services/edge/README.md"), "utf8");
    expect(readme).toContain("npx tsmicro api --namespace=shop.api ");
    expect(readme.replace(/\s+/g, " ")).toContain(
      "give the gateway's command `--namespace=shop.api`, as `tsmicro new` printed.",
    );
    // Done as printed, the next API service of that namespace needs nothing more; another namespace a second gateway.
    const rootPath = join(root, "docker-compose.yml");
    const original = await readFile(rootPath, "utf8");
    const changed = original.replace(/command: \[(.*)"api", "--address=0.0.0.0:8080"\]/, `command: ${command}`);
    expect(changed).not.toBe(original);
    await writeFile(rootPath, changed);
    const orders = await newService("orders", "--type", "api", "--namespace", "shop");
    expect(orders.code, orders.stderr).toBe(0);
    expect(orders.stdout).not.toContain("gateway under docker compose up");
    const docs = await newService("search", "--type", "api", "--namespace", "docs");
    expect(docs.code, docs.stderr).toBe(0);
    expect(docs.stdout).toContain(
      "gateway in the workspace's docker-compose.yml serves the namespace shop.api, and a gateway serves one namespace:\n" +
        "  to reach docs.api.search, add a second gateway (a copy of gateway on another port) with --namespace=docs.api\n",
    );
    await writeFile(rootPath, original);
    // Without a namespace, and for a gRPC service, which gateways reach by its google.api.http routes: nothing to say.
    for (const args of [
      ["stock", "--type", "api"],
      ["billing", "--namespace", "shop"],
    ]) {
      const plain = await newService(...args);
      expect(plain.code, plain.stderr).toBe(0);
      expect(plain.stdout).not.toContain("--namespace");
      expect(plain.stdout).not.toContain("gateway's command");
    }
  }, 180_000);
});
