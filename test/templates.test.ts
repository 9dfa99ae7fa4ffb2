import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bins, repoTempDir, run } from "./support/cli.js";
import { createTsmicro } from "./support/project.js";

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("--templates DIR", () => {
  it("overrides the shipped templates file by file", async () => {
    const dir = await repoTempDir("templates");
    temps.push(dir);
    await mkdir(join(dir, "proto"), { recursive: true });
    await mkdir(join(dir, "my-templates"));
    await writeFile(
      join(dir, "proto/svc.proto"),
      'syntax = "proto3";\npackage t;\nmessage M {}\n// Svc does things.\nservice Svc { rpc Do(M) returns (M); }\n',
    );
    // Only doc.ejs is overridden; micro.ts.ejs still comes from the package and includes it.
    await writeFile(
      join(dir, "my-templates/doc.ejs"),
      "<% if (lines.length > 0) { -%>\n// DOC: <%- lines.join(' ') %>\n<% } -%>\n",
    );
    const result = await run("node", [bins.tsmicro, "generate", "--templates", "my-templates"], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    const micro = await readFile(join(dir, "src/gen/svc.micro.ts"), "utf8");
    expect(micro).toContain("// DOC: Svc does things.");
    expect(micro).not.toContain("/**\n * Svc does things.");
    expect(micro).toContain("export interface SvcHandler");
  });

  it("a project made with --templates keeps them (tsmicro.json) for every later generate", async () => {
    const dir = await repoTempDir("templates");
    temps.push(dir);
    await mkdir(join(dir, "my-templates"));
    await writeFile(
      join(dir, "my-templates/doc.ejs"),
      "<% if (lines.length > 0) { -%>\n// DOC: <%- lines.join(' ') %>\n<% } -%>\n",
    );
    const made = await run("node", [createTsmicro, "kept", "--templates", "my-templates", "--no-install"], {
      cwd: dir,
    });
    expect(made.code, made.stderr).toBe(0);
    const project = join(dir, "kept");
    expect(JSON.parse(await readFile(join(project, "tsmicro.json"), "utf8"))).toMatchObject({
      templates: "../my-templates",
    });
    const micro = join(project, "src/gen/kept/v1/kept.micro.ts");
    expect(await readFile(micro, "utf8")).toContain("// DOC: ");
    // generate without --templates, as after a proto edit: the project's templates still apply.
    const again = await run("node", [bins.tsmicro, "generate"], { cwd: project });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/\(0 changed\)/);
    expect(await readFile(micro, "utf8")).toContain("// DOC: ");
  });

  it("reports a template that fails to render, naming it, and writes nothing", async () => {
    const dir = await repoTempDir("templates");
    temps.push(dir);
    await mkdir(join(dir, "proto"), { recursive: true });
    await mkdir(join(dir, "my-templates"));
    await writeFile(
      join(dir, "proto/svc.proto"),
      'syntax = "proto3";\nmessage M {}\nservice Svc { rpc Do(M) returns (M); }\n',
    );
    await writeFile(join(dir, "my-templates/micro.ts.ejs"), "<%- notDefined.x %>\n");
    const result = await run("node", [bins.tsmicro, "generate", "--templates", join(dir, "my-templates")], {
      cwd: dir,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("template micro.ts.ejs failed: ");
    expect(result.stderr).toContain("notDefined is not defined");
    await expect(readFile(join(dir, "src/gen/svc.ts"), "utf8")).rejects.toThrow();
  });
});

describe("an API or web project made with --namespace", () => {
  it("runs the gateway with the namespace it registers under, in its README and docker-compose.yml", async () => {
    const dir = await repoTempDir("templates");
    temps.push(dir);
    const made = await run("node", [createTsmicro, "ns1", "--namespace", "go.micro", "--type", "web", "--no-install"], {
      cwd: dir,
    });
    expect(made.code, made.stderr).toBe(0);
    const readme = await readFile(join(dir, "ns1/README.md"), "utf8");
    expect(readme).toContain("npx tsmicro api --handler web --namespace=go.micro.web");
    const compose = await readFile(join(dir, "ns1/docker-compose.yml"), "utf8");
    expect(compose).toContain('"--handler=web", "--namespace=go.micro.web",');
    // A web service serves /metrics too: it gets the monitoring files as every project does.
    expect(await readFile(join(dir, "ns1/observability/prometheus.yml"), "utf8")).toContain("scrape_configs");
  });
  it("an API project runs the gateway with its namespace too, as its README, docker-compose.yml and next steps say", async () => {
    const dir = await repoTempDir("templates");
    temps.push(dir);
    const made = await run("node", [createTsmicro, "ns2", "--namespace", "go.micro", "--type", "api", "--no-install"], {
      cwd: dir,
    });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toContain(
      "  npx tsmicro api --namespace=go.micro.api   # the HTTP gateway in front of go.micro.api.ns2\n",
    );
    const readme = await readFile(join(dir, "ns2/README.md"), "utf8");
    expect(readme).toContain("npx tsmicro api --namespace=go.micro.api   # HTTP gateway on :8080");
    const compose = await readFile(join(dir, "ns2/docker-compose.yml"), "utf8");
    expect(compose).toContain('"api", "--namespace=go.micro.api", "--address=0.0.0.0:8080"]');
  });
});

describe("a service project's README", () => {
  it("names another project's proto folder in its owns example, never its own", async () => {
    const dir = await repoTempDir("templates");
    temps.push(dir);
    for (const name of ["inventory", "billing"]) {
      const made = await run("node", [createTsmicro, name, "--no-install"], { cwd: dir });
      expect(made.code, made.stderr).toBe(0);
    }
    const inventory = await readFile(join(dir, "inventory/README.md"), "utf8");
    expect(inventory).toContain("(`proto/stock/v1/stock.proto`)");
    expect(inventory).toContain('a list, `["inventory", "stock"]`, when it serves the protos of several');
    const billing = await readFile(join(dir, "billing/README.md"), "utf8");
    expect(billing).toContain("(`proto/inventory/v1/inventory.proto`)");
    expect(billing).toContain('a list, `["billing", "inventory"]`, when it serves the protos of several');
  });
});
