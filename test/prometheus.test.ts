/**
 * Metrics end to end, through real programs: the shipped Prometheus config,
 * alerting rules and their unit tests pass promtool; and a real Prometheus,
 * given targets by `tsmicro prometheus-targets --watch` from a local
 * registry, scrapes two services and the gateway, counts the calls made
 * through the gateway by method and code, picks up a node started later,
 * and reports it down once it is killed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { silentLogger } from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { bins, repoRoot, run } from "./support/cli.js";
import { killAllNodes, startNode, type NodeProcess } from "./support/nodes.js";
import {
  prometheusProgram,
  promtoolProgram,
  startPrometheus,
  type PrometheusServer,
  type PromSample,
} from "./support/prometheus.js";
import { suiteEnv } from "./support/suite-env.js";

const shipped = join(repoRoot, "observability");

describe.skipIf(!promtoolProgram)("the shipped Prometheus files", () => {
  it("pass promtool check config, check rules and the rules' unit tests", async () => {
    for (const args of [
      ["check", "config", "prometheus.yml"],
      ["check", "rules", "alerts.yml"],
      ["test", "rules", "alerts.test.yml"],
    ]) {
      const result = await run(promtoolProgram!, args, { cwd: shipped });
      expect(result.code, `promtool ${args.join(" ")}:\n${result.stdout}${result.stderr}`).toBe(0);
    }
  });
});

/** Polls `check` until it returns without throwing; its last error fails the test at the deadline. */
async function eventually<T>(check: () => Promise<T>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what} not seen within ${timeoutMs} ms: ${String(error)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** A vector as `labels -> value`, keyed by the given labels joined with spaces. */
function byLabels(samples: readonly PromSample[], labels: readonly string[]): Record<string, number> {
  return Object.fromEntries(samples.map((s) => [labels.map((l) => s.metric[l] ?? "").join(" "), s.value]));
}

describe.skipIf(!prometheusProgram)("a real Prometheus scraping tsmicro", () => {
  let dir: string;
  let flags: string[];
  let echo: NodeProcess;
  let library: NodeProcess;
  let gateway: Gateway;
  let watcher: ChildProcess | undefined;
  let prometheus: PrometheusServer | undefined;
  let targetsFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-prometheus-test-"));
    flags = ["--registry=local", `--registry_address=${join(dir, "registry")}`, "--register_ttl=300"];
    [echo, library] = await Promise.all([
      startNode("test/fixtures/echo-node.ts", flags),
      startNode("test/fixtures/gateway-node.ts", flags),
    ]);
    gateway = createGateway({ args: [...flags, "--address=127.0.0.1:0"], env: suiteEnv(), logger: silentLogger() });
    await gateway.start();

    // The targets file as the shipped config expects it, kept current by the command under test.
    targetsFile = join(dir, "targets", "tsmicro.json");
    watcher = spawn(
      process.execPath,
      [
        bins.tsmicro,
        "prometheus-targets",
        "--watch",
        "--out",
        targetsFile,
        "--target",
        `api=${gateway.address}`,
        ...flags.filter((flag) => flag.startsWith("--registry")),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let watcherOutput = "";
    watcher.stdout?.on("data", (chunk: Buffer) => (watcherOutput += chunk.toString()));
    watcher.stderr?.on("data", (chunk: Buffer) => (watcherOutput += chunk.toString()));
    await eventually(async () => {
      const text = await readFile(targetsFile, "utf8").catch((error: unknown) => {
        throw new Error(`${String(error)}; prometheus-targets said: ${watcherOutput}`);
      });
      const groups = JSON.parse(text) as { labels: { service: string } }[];
      expect(groups.map((g) => g.labels.service).sort(), watcherOutput).toEqual(["api", "echo", "library"]);
    }, "the targets file");

    // The shipped config, with test-speed intervals and this test's targets file.
    const config = parseYaml(await readFile(join(shipped, "prometheus.yml"), "utf8")) as {
      global: Record<string, string>;
      rule_files: string[];
      scrape_configs: { file_sd_configs: { files: string[]; refresh_interval: string }[] }[];
    };
    config.global = { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" };
    config.rule_files = [join(shipped, "alerts.yml")];
    config.scrape_configs[0]!.file_sd_configs = [{ files: [targetsFile], refresh_interval: "1s" }];
    prometheus = await startPrometheus(stringifyYaml(config));
  });

  afterAll(async () => {
    if (watcher?.pid && watcher.exitCode === null) process.kill(watcher.pid, "SIGKILL");
    await prometheus?.stop();
    await gateway?.stop();
    await killAllNodes();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("scrapes two services and the gateway, and counts handled calls by method and code", async () => {
    await eventually(async () => {
      const up = byLabels(await prometheus!.query('up{job="tsmicro"}'), ["service"]);
      expect(up).toEqual({ api: 1, echo: 1, library: 1 });
    }, "every target up");

    const rpc = (body: unknown) =>
      fetch(`${gateway.url}/rpc`, { method: "POST", body: JSON.stringify(body) }).then((r) => r.status);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push(await rpc({ service: "echo", method: "Alpha.Unary", request: { id: `call ${i}` } }));
    for (let i = 0; i < 3; i++)
      statuses.push(await rpc({ service: "library", method: "Library.Fail", request: { code: 5, message: "gone" } }));
    for (let i = 0; i < 2; i++)
      statuses.push(await rpc({ service: "library", method: "Library.Fail", request: { code: 3, message: "bad" } }));
    for (let i = 0; i < 4; i++) statuses.push(await fetch(`${gateway.url}/v1/ping`).then((r) => r.status));
    // A body that is not JSON fails before the route's handler, and still counts under its route.
    statuses.push(await fetch(`${gateway.url}/rpc`, { method: "POST", body: "{not json" }).then((r) => r.status));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 404, 404, 404, 400, 400, 200, 200, 200, 200, 400]);

    const expected = {
      "fixtures.services.v1.Alpha Unary OK": 5,
      "fixtures.gateway.v1.Library Fail NotFound": 3,
      "fixtures.gateway.v1.Library Fail InvalidArgument": 2,
      "fixtures.gateway.v1.Library Ping OK": 4,
    };
    await eventually(async () => {
      const samples = await prometheus!.query(
        'sum by (grpc_service, grpc_method, grpc_code) (grpc_server_handled_total{job="tsmicro"})',
      );
      expect(byLabels(samples, ["grpc_service", "grpc_method", "grpc_code"])).toEqual(expected);
    }, "grpc_server_handled_total by method and code");

    // The same calls as the gateway's clients saw them, and as HTTP requests by route template.
    await eventually(async () => {
      const client = await prometheus!.query(
        'sum by (grpc_method, grpc_code) (grpc_client_handled_total{service="api"})',
      );
      expect(byLabels(client, ["grpc_method", "grpc_code"])).toEqual({
        "Unary OK": 5,
        "Fail NotFound": 3,
        "Fail InvalidArgument": 2,
        "Ping OK": 4,
      });
      const http = await prometheus!.query(
        'sum by (route, code) (http_requests_total{service="api",route!="/metrics"})',
      );
      expect(byLabels(http, ["route", "code"])).toEqual({
        "/rpc 200": 5,
        "/rpc 404": 3,
        "/rpc 400": 3,
        "/v1/ping 200": 4,
      });
    }, "the gateway's client and HTTP metrics");

    // A metric that names a service itself (a breaker's, the registry's nodes) keeps that name: the shipped
    // config honours scraped labels over the target's, so the breaker alert names the service called, not
    // the gateway calling it (else Prometheus renames the metric's label exported_service).
    await eventually(async () => {
      const breakers = await prometheus!.query(`tsmicro_breaker_state{instance="${gateway.address}"}`);
      expect(new Set(breakers.map((s) => s.metric.service))).toEqual(new Set(["echo", "library"]));
      expect(breakers.filter((s) => s.metric.exported_service !== undefined)).toEqual([]);
    }, "breaker states by the service called");

    // Every query of the shipped dashboard is valid PromQL against these metrics.
    const dashboard = JSON.parse(await readFile(join(shipped, "grafana-dashboard.json"), "utf8")) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(queries.length).toBeGreaterThan(10);
    for (const expr of queries) {
      const promql = expr
        .replaceAll("$__rate_interval", "1m")
        .replaceAll("$grpc_service", ".*")
        .replaceAll("$job", ".*");
      await expect(prometheus!.query(promql), expr).resolves.toBeDefined();
    }
  });

  it("scrapes a node started later without a config change, and reports it down once killed", async () => {
    const late = await startNode("test/fixtures/echo-node.ts", flags, { ECHO_NAME: "late" });
    const query = `up{job="tsmicro",node="${late.id}"}`;
    await eventually(async () => {
      expect((await prometheus!.query(query)).map((s) => s.value)).toEqual([1]);
    }, "the late node up");

    late.kill("SIGKILL");
    await late.exited;
    // Its registration outlives it (the TTL), so it stays a target, and Prometheus sees it down.
    await eventually(async () => {
      expect((await prometheus!.query(query)).map((s) => s.value)).toEqual([0]);
    }, "the killed node down");
    // The shipped alert fires for it, naming the service and node.
    await eventually(async () => {
      const alerts = await prometheus!.query(`ALERTS{alertname="TsmicroInstanceDown",alertstate="firing"}`);
      expect(alerts.map((a) => `${a.metric.service} ${a.metric.node}`)).toEqual([`late ${late.id}`]);
    }, "TsmicroInstanceDown firing");
    // The others stay up.
    for (const node of [echo, library])
      expect((await prometheus!.query(`up{job="tsmicro",node="${node.id}"}`)).map((s) => s.value)).toEqual([1]);
  });
});
