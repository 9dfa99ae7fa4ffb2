/**
 * `tsmicro web` in a real browser: Debian's headless Chromium driven by playwright-core, against
 * services started as real processes, on the local registry and on a real etcd. Each step's
 * screenshot is saved under test-results/dashboard/.
 */
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { connect, silentLogger } from "@tsmicro/runtime";
import { createDashboard, createGateway, type Dashboard } from "@tsmicro/gateway";
import { SignJWT } from "jose";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlphaDefinition } from "./golden/10-services/services.micro.js";
import { repoRoot } from "./support/cli.js";
import { closedPort, startEtcdCluster, type EtcdCluster, etcdProgram } from "./support/etcd.js";
import { killAllNodes, killLeavingRegistration, startNode } from "./support/nodes.js";
import { findProgram } from "./support/programs.js";

const chromiumProgram = findProgram("chromium", "chromium");
const shots = join(repoRoot, "test-results/dashboard");
const unary = "fixtures.services.v1.Alpha/Unary";

/** A dashboard on `registryArgs`, a browser page open on it, the page's console errors and every URL it requested. */
interface Session {
  readonly dashboard: Dashboard;
  readonly page: Page;
  readonly errors: string[];
  readonly requests: string[];
}

async function openDashboard(browser: Browser, registryArgs: readonly string[]): Promise<Session> {
  const dashboard = createDashboard({
    args: [...registryArgs, "--address=127.0.0.1:0"],
    env: {},
    logger: silentLogger(),
  });
  await dashboard.start();
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("request", (request) => requests.push(request.url()));
  await page.goto(dashboard.url!);
  await page.getByTestId("connection").getByText("live").waitFor();
  return { dashboard, page, errors, requests };
}

/** The steps a user takes, on the registry `registryArgs` name; `label` names the screenshots. */
async function walkThrough(browser: Browser, label: string, registryArgs: readonly string[]): Promise<void> {
  const { dashboard, page, errors, requests } = await openDashboard(browser, registryArgs);
  const shot = (step: string) => page.screenshot({ path: join(shots, `${label}-${step}.png`), fullPage: true });
  try {
    await shot("1-empty");
    // Live updates come over one event stream: an idle page asks for nothing.
    const asked = requests.length;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(requests.slice(asked)).toEqual([]);
    // A service started after the page opened appears once it has registered, over the event stream (the page polls nothing).
    const node = await startNode("test/fixtures/echo-node.ts", [
      ...registryArgs,
      "--register_ttl=2s",
      "--register_interval=500ms",
    ]);
    await page.getByTestId(`node-${node.id}`).waitFor({ timeout: 10_000 });
    await expect.poll(() => page.getByTestId(`node-${node.id}`).textContent(), { timeout: 5_000 }).toContain("SERVING");
    await shot("2-service");

    // The call form is pre-filled with the request's shape; the answer is the node's JSON.
    await page.getByTestId("method-Alpha.Unary").locator("button").first().click();
    await expect(page.getByTestId("call-request").inputValue()).resolves.toContain('"payload"');
    await page.getByTestId("call-request").fill('{"id":"hello","payload":"AQI="}');
    await page.getByTestId("call-button").click();
    await page.getByTestId("call-result").waitFor();
    expect(await page.getByTestId("call-status").textContent()).toBe("OK");
    expect(JSON.parse((await page.getByTestId("call-response").textContent())!)).toEqual({
      id: node.id,
      payload: "AQI=",
    });
    expect(await page.getByTestId("call-trace").textContent()).toMatch(/^trace [0-9a-f]{32}$/);
    // The page names the method one way wherever it shows it: in the list and by the dashboard's own breaker for it.
    expect(await page.getByTestId("method-Alpha.Unary").locator("button").first().textContent()).toContain(unary);
    await expect
      .poll(() => page.getByTestId("breakers").textContent(), { timeout: 10_000 })
      .toContain(`dashboardecho · ${unary}closed`);
    // Its columns say what they are: "dashboard" is a caller, as a node id is.
    expect(await page.getByTestId("breakers").locator("th").allTextContents()).toEqual([
      "Caller",
      "Service · method called",
      "State",
    ]);
    await shot("3-call");
    // A request the dashboard refuses before calling is named by its gRPC code, as a service's failure is, with the message.
    await page.getByTestId("call-request").fill("[1, 2]");
    await page.getByTestId("call-button").click();
    await expect.poll(() => page.getByTestId("call-status").textContent()).toBe("INVALID_ARGUMENT");
    expect(await page.getByTestId("call-response").textContent()).toBe(
      "the request must be a JSON object of fixtures.services.v1.Request's fields, not an array",
    );
    // The badge's colour covers its whole line: the underscores below the font's box are not drawn white on the white page.
    const badge = page.getByTestId("call-status");
    const lineHeight = await badge.evaluate((b) => b.ownerDocument.defaultView?.getComputedStyle(b).lineHeight ?? "");
    expect((await badge.boundingBox())!.height).toBeGreaterThanOrEqual(Number.parseFloat(lineHeight));
    // No call was made: no latency, no trace.
    expect(await page.getByTestId("call-result").textContent()).not.toMatch(/ ms|trace/);
    // Chromium logs the 400 answer on its own; the page itself logs nothing.
    await expect
      .poll(() => errors)
      .toEqual(["Failed to load resource: the server responded with a status of 400 (Bad Request)"]);
    errors.length = 0;
    // A service's failure, for comparison: the code's name, the latency and the message.
    await page.getByTestId("call-request").fill('{"id":"relay:nowhere"}');
    await page.getByTestId("call-button").click();
    await expect.poll(() => page.getByTestId("call-status").textContent()).toBe("FAILED_PRECONDITION");
    expect(await page.getByTestId("call-response").textContent()).toBe("no ECHO_DOWNSTREAM set");
    expect(await page.getByTestId("call-result").textContent()).toMatch(/ ms/);

    // Under load the method's chart shows calls per second.
    const connection = connect({ args: [...registryArgs], env: {}, logger: silentLogger() });
    const client = connection.client(AlphaDefinition, "echo");
    let loading = true;
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (loading) await client.unary({ id: "load", payload: new Uint8Array(8) });
      }),
    );
    const chart = page.getByTestId(`chart-${unary}`);
    try {
      await expect
        .poll(async () => Number(await chart.getAttribute("data-rate")), { timeout: 15_000 })
        .toBeGreaterThan(5);
      const points = Number(await chart.getAttribute("data-points"));
      // A point a tick (1 s), and a tick may be skipped while the last one waits on a busy node.
      await expect
        .poll(async () => Number(await chart.getAttribute("data-points")), { timeout: 10_000 })
        .toBeGreaterThan(points);
      await shot("4-load");
    } finally {
      loading = false;
      await load;
      await connection.stop();
    }
    // Once the calls stop, a second's point is zero, and the captions still say what the last minute saw, and that they do.
    await expect.poll(() => chart.getAttribute("data-last-rate"), { timeout: 10_000 }).toBe("0.00");
    const captions = await chart.locator("figcaption").allTextContents();
    expect(Number(/^calls: ([\d.]+) \/s$/.exec(captions[0]!)?.[1])).toBeGreaterThan(1);
    expect(captions[2]).toMatch(/^latency: [\d.]+ ms$/);
    expect(await chart.getByTestId("chart-span").textContent()).toMatch(/^figures: mean over \d+ s$/);

    // A killed node leaves the page: on the local registry as soon as it sees the process gone, on etcd on expiry.
    node.kill("SIGKILL");
    await page.getByTestId(`node-${node.id}`).waitFor({ state: "detached", timeout: 15_000 });
    await page.getByText("No services registered.").waitFor();
    await shot("5-gone");
    expect(errors).toEqual([]);
    // Everything the page loaded came from the dashboard itself: nothing from a CDN.
    const origin = new URL(dashboard.url!).origin;
    expect(requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
  } finally {
    await page.close();
    await dashboard.stop();
    await killAllNodes();
  }
}

describe.skipIf(!chromiumProgram)("tsmicro web in Chromium", () => {
  let browser: Browser;
  let dir = "";

  beforeAll(async () => {
    await mkdir(shots, { recursive: true });
    dir = await mkdtemp(join(tmpdir(), "tsmicro-dashboard-"));
    browser = await chromium.launch({ executablePath: chromiumProgram!, args: ["--no-sandbox"] });
  });

  afterAll(async () => {
    await browser?.close();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("shows services as they come and go, calls a method, and charts the traffic (local registry)", async () => {
    await walkThrough(browser, "local", ["--registry=local", `--registry_address=${dir}`]);
  });

  it("shows the events a service subscribes to: topic, message, queue group and broker", async () => {
    const registryArgs = ["--registry=local", `--registry_address=${join(dir, "events")}`];
    const { dashboard, page, errors } = await openDashboard(browser, registryArgs);
    try {
      const billing = await startNode("test/fixtures/order-events-node.ts", registryArgs, { EVENTS_NAME: "billing" });
      await page.getByTestId("service-billing").click();
      const placed = page.getByTestId("event-order.placed");
      await placed.waitFor({ timeout: 10_000 });
      const cells = async (row: typeof placed) => (await row.locator("td").allTextContents()).map((t) => t.trim());
      expect(await cells(placed)).toEqual([
        "OrdersEvents.orderPlaced",
        "order.placed",
        "fixtures.shop.v1.OrderPlaced",
        "subscribes",
        "billing",
        "http",
      ]);
      expect(await cells(page.getByTestId("event-fixtures.shop.v1.OrderCancelled"))).toEqual([
        "OrdersEvents.orderCancelled",
        "fixtures.shop.v1.OrderCancelled",
        "fixtures.shop.v1.OrderCancelled",
        "subscribes",
        "billing",
        "http",
      ]);
      // The http broker's subscriptions register as nodes of tsmicro.broker, which serves no gRPC: not listed as a service.
      expect(await page.getByTestId("service-tsmicro.broker").count()).toBe(0);
      await page.screenshot({ path: join(shots, "events.png"), fullPage: true });

      // Without a queue group, every node gets each event; the page says so.
      billing.kill("SIGTERM");
      await billing.exited;
      await startNode("test/fixtures/order-events-node.ts", registryArgs, {
        EVENTS_NAME: "audit",
        EVENTS_QUEUE: "off",
      });
      await page.getByTestId("service-audit").click();
      await expect
        .poll(async () => cells(page.getByTestId("event-order.placed")), { timeout: 10_000 })
        .toEqual([
          "OrdersEvents.orderPlaced",
          "order.placed",
          "fixtures.shop.v1.OrderPlaced",
          "subscribes",
          "every node",
          "http",
        ]);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await dashboard.stop();
      await killAllNodes();
    }
  });

  it("shows a typed error's reason and metadata after its message, as tsmicro call prints them, and a stopped dashboard as such", async () => {
    const registryArgs = ["--registry=local", `--registry_address=${join(dir, "typed")}`];
    const { dashboard, page, errors } = await openDashboard(browser, registryArgs);
    try {
      await startNode("test/fixtures/account-node.ts", registryArgs);
      await page.getByTestId("service-account").click();
      const method = page.getByTestId("method-AccountService.Get");
      await method.locator("button").first().click();
      await page.getByTestId("call-request").fill('{"id":"7"}');
      await page.getByTestId("call-button").click();
      await expect.poll(() => page.getByTestId("call-status").textContent()).toBe("NOT_FOUND");
      expect(await page.getByTestId("call-response").textContent()).toBe(
        "no account 7 (reason ACCOUNT_NOT_FOUND, id=7)",
      );
      expect(errors).toEqual([]);
      // With the dashboard itself gone, a call says so, rather than leaving the last answer on the form.
      await dashboard.stop();
      await page.getByTestId("connection").getByText("disconnected").waitFor();
      await page.getByTestId("call-button").click();
      await expect.poll(() => page.getByTestId("call-status").textContent()).toBe("UNAVAILABLE");
      expect(await page.getByTestId("call-response").textContent()).toMatch(/^the dashboard does not answer/);
    } finally {
      await page.close();
      await dashboard.stop();
      await killAllNodes();
    }
  });

  it("colours a node's health alike in the service list and the service panel: UNKNOWN is grey, no failure", async () => {
    // No tsmicro node answers UNKNOWN (a server of another stack may): the page is fed the fleet it would show.
    const node = (id: string, health: string) => ({ id, address: "127.0.0.1:1", metadata: {}, health });
    const services = [
      {
        name: "legacy",
        version: "1",
        endpoints: [],
        nodes: [node("legacy-1", "UNKNOWN"), node("legacy-2", "NOT_SERVING"), node("legacy-3", "SERVING")],
      },
    ];
    const panels = { legacy: { name: "legacy", methods: [], events: [] } };
    await withFleet(
      services,
      async (page) => {
        await page.getByTestId("node-legacy-3").waitFor();
        const ids = ["legacy-1", "legacy-2", "legacy-3"];
        const dots = await Promise.all(
          ids.map((id) => page.getByTestId("service-legacy").locator(`[title^="${id}:"]`).getAttribute("class")),
        );
        const badges = await Promise.all(
          ids.map((id) => page.getByTestId(`node-${id}`).locator(".badge").getAttribute("class")),
        );
        expect(dots).toEqual(["dot unknown", "dot bad", "dot ok"]);
        expect(badges).toEqual(["badge unknown", "badge bad", "badge ok"]);
        await page.screenshot({ path: join(shots, "health-colours.png"), fullPage: true });
      },
      panels,
    );
  });

  it("wraps a service name too long for the list (the login example's api.micro.platform.web.user) instead of drawing it under its nodes' dots", async () => {
    const name = "api.micro.platform.web.user";
    const node = { id: `${name}-1`, address: "127.0.0.1:1", metadata: {}, health: "SERVING" };
    await withFleet([{ name, version: "1", endpoints: [], nodes: [node] }], async (page) => {
      const entry = page.getByTestId(`service-${name}`);
      await entry.waitFor();
      const text = await entry.locator("span").first().boundingBox();
      const dots = await entry.locator(".dots").boundingBox();
      const list = await page.locator("nav").boundingBox();
      expect(text!.x + text!.width).toBeLessThanOrEqual(dots!.x);
      expect(dots!.x + dots!.width).toBeLessThanOrEqual(list!.x + list!.width);
    });
  });

  /**
   * A dashboard on an empty registry whose page is fed `services` as its event stream (a fleet no
   * test could start, such as nodes of another stack) and `panels` as the services' details, by
   * name; `look` reads the page once it is open.
   */
  async function withFleet(
    services: readonly object[],
    look: (page: Page) => Promise<void>,
    panels: Readonly<Record<string, object>> = {},
  ): Promise<void> {
    const dashboard = createDashboard({
      args: ["--registry=memory", "--address=127.0.0.1:0"],
      env: {},
      logger: silentLogger(),
    });
    await dashboard.start();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.route("**/api/events", (route) =>
        route.fulfill({
          contentType: "text/event-stream",
          body: `event: services\ndata: ${JSON.stringify({ type: "services", services })}\n\n`,
        }),
      );
      for (const [name, panel] of Object.entries(panels))
        await page.route(`**/api/services/${name}`, (route) => route.fulfill({ json: panel }));
      await page.goto(dashboard.url!);
      await look(page);
    } finally {
      await page.close();
      await dashboard.stop();
    }
  }

  it.skipIf(!etcdProgram)("works the same on a real etcd, and says so while etcd is down", async () => {
    const etcd: EtcdCluster = await startEtcdCluster({ members: 1 });
    const registryArgs = ["--registry=etcd", `--registry_address=${etcd.endpoints.join(",")}`];
    try {
      await walkThrough(browser, "etcd", registryArgs);
      const { dashboard, page, errors } = await openDashboard(browser, registryArgs);
      try {
        await etcd.stopMember(0);
        await page.getByTestId("registry-error").waitFor({ timeout: 30_000 });
        await page.screenshot({ path: join(shots, "etcd-6-registry-down.png"), fullPage: true });
        await etcd.startMember(0);
        await page.getByTestId("registry-error").waitFor({ state: "detached", timeout: 30_000 });
        expect(errors).toEqual([]);
      } finally {
        await page.close();
        await dashboard.stop();
      }
    } finally {
      await etcd.stop();
    }
  });

  it("in tsmicro api with route rules, sends its own token in X-Dashboard-Token and a JWT from the form as Authorization", async () => {
    const registryArgs = ["--registry=local", `--registry_address=${join(dir, "jwt")}`];
    const secret = "a-shared-secret-of-at-least-32-bytes!!";
    const gateway = createGateway({
      args: [
        ...registryArgs,
        "--address=127.0.0.1:0",
        "--metrics_address=off",
        "--dashboard=on",
        "--dashboard_token=s3cret",
      ],
      env: {},
      logger: silentLogger(),
      jwt: { secret },
      routes: [{ match: "fixtures.services.v1.Alpha.*", auth: true }],
    });
    await gateway.start();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    try {
      const node = await startNode("test/fixtures/echo-node.ts", registryArgs);
      await page.goto(`${gateway.url!}/dashboard/`);
      await page.getByTestId(`node-${node.id}`).waitFor({ timeout: 10_000 });
      await page.getByTestId("method-Alpha.Unary").locator("button").first().click();
      await page.getByTestId("call-request").fill('{"id":"hello","payload":"AQI="}');
      await page.getByTestId("call-token").fill("s3cret");
      // The dashboard's token alone passes the dashboard, and the route rule asks for a JWT.
      await page.getByTestId("call-button").click();
      await expect.poll(() => page.getByTestId("call-status").textContent()).toBe("UNAUTHENTICATED");
      expect(await page.getByTestId("call-response").textContent()).toContain("missing Authorization header");
      const jwt = await new SignJWT({})
        .setProtectedHeader({ alg: "HS256" })
        .setSubject("ada")
        .sign(new TextEncoder().encode(secret));
      await page.getByTestId("call-jwt").fill(jwt);
      await page.getByTestId("call-button").click();
      await expect.poll(() => page.getByTestId("call-status").textContent()).toBe("OK");
      expect(JSON.parse((await page.getByTestId("call-response").textContent())!)).toEqual({
        id: node.id,
        payload: "AQI=",
      });
      await page.screenshot({ path: join(shots, "gateway-jwt-call.png"), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await gateway.stop();
      await killAllNodes();
    }
  });

  it("ships a page under 200 KB gzipped, loading nothing from elsewhere", async () => {
    const web = join(repoRoot, "runtime/gateway/dist/web");
    let gzipped = 0;
    for (const file of ["index.html", "app.js", "app.css"]) gzipped += gzipSync(await readFile(join(web, file))).length;
    expect(gzipped).toBeLessThan(200 * 1024);
    const html = await readFile(join(web, "index.html"), "utf8");
    expect(html).not.toMatch(/https?:\/\//);
  });
});

describe("tsmicro web's --address", () => {
  it("is checked before the registry is reached, as the gateway's is", async () => {
    // The registry here is an etcd that is not there: a bad address must be what start() reports.
    const dashboard = createDashboard({
      args: ["--registry=etcd", `--registry_address=127.0.0.1:${await closedPort()}`, "--address=nope"],
      env: {},
      logger: silentLogger(),
    });
    await expect(dashboard.start()).rejects.toThrow(/--address has an invalid value "nope": use host:port/);
    await dashboard.stop();
  });
});

describe("tsmicro web's API, without a page open", () => {
  let dir = "";
  let dashboard: Dashboard;
  let registryArgs: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-dashboard-api-"));
    registryArgs = ["--registry=local", `--registry_address=${dir}`];
    dashboard = createDashboard({
      args: [...registryArgs, "--address=127.0.0.1:0", "--metrics_address=off"],
      env: {},
      logger: silentLogger(),
    });
    await dashboard.start();
  });

  afterAll(async () => {
    await dashboard?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  const call = async (request: unknown) => {
    const response = await fetch(`${dashboard.url}api/call`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ service: "echo", method: "Alpha.Unary", request }),
    });
    return { status: response.status, message: ((await response.json()) as { message?: string }).message };
  };

  it("says what is wrong with a request the call form sent, and where, as tsmicro call does", async () => {
    await startNode("test/fixtures/echo-node.ts", registryArgs);
    expect(await call("[1, 2]")).toEqual({
      status: 400,
      message: "the request must be a JSON object of fixtures.services.v1.Request's fields, not an array",
    });
    expect(await call('"hello"')).toEqual({
      status: 400,
      message: 'the request must be a JSON object of fixtures.services.v1.Request\'s fields, not "hello"',
    });
    const misfit = await call('{"id": "a", "payload": 7}');
    expect(misfit.status).toBe(400);
    expect(misfit.message).toMatch(/^the request does not fit fixtures\.services\.v1\.Request: at payload \(7\): /);
    await killAllNodes();
  });

  it("says a registered web service has no methods because it serves HTTP, not that it is not registered", async () => {
    await startNode("test/fixtures/web-node.ts", registryArgs);
    const response = await fetch(`${dashboard.url}api/services/site`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      name: "site",
      methods: [],
      events: [],
      noMethods: {
        reason: "No methods to call here: a web service serves HTTP, not gRPC; tsmicro api --handler web routes to it.",
        failed: false,
      },
    });
    // A name the registry does not know is still a 404 saying so.
    const unknown = await fetch(`${dashboard.url}api/services/nowhere`);
    expect([unknown.status, ((await unknown.json()) as { message: string }).message]).toEqual([
      404,
      "no service nowhere is registered",
    ]);
    await killAllNodes();
  });

  it("reads every node's health afresh for api/services after the last page closed", async () => {
    const node = await startNode("test/fixtures/echo-node.ts", [...registryArgs, "--register_ttl=60s"]);
    // A page opens, sees the node serving, and closes.
    const page = new AbortController();
    const events = await fetch(`${dashboard.url}api/events`, { signal: page.signal });
    const reader = events.body!.getReader();
    let seen = "";
    while (!seen.includes('"SERVING"')) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the event stream ended before the node was serving: ${seen}`);
      seen += new TextDecoder().decode(value);
    }
    page.abort();
    // Ordering, not timing: the dashboard hears the page's connection close before the node dies.
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Killed without deregistering, where no reader can check its process (another container's, say):
    // still registered until its TTL, and no longer serving.
    await killLeavingRegistration(node, dir, "echo");
    const services = (await (await fetch(`${dashboard.url}api/services`)).json()) as {
      nodes: { id: string; health: string }[];
    }[];
    const health = services.flatMap((s) => s.nodes).find((n) => n.id === node.id)?.health;
    expect(health).toBe("UNAVAILABLE");
  });
});

describe("tsmicro web's /metrics", () => {
  const start = async (extra: string[]) => {
    const dashboard = createDashboard({
      args: ["--registry=memory", "--address=127.0.0.1:0", ...extra],
      env: {},
      logger: silentLogger(),
    });
    await dashboard.start();
    return dashboard;
  };

  it("is served on the dashboard's own port, counting its requests", async () => {
    const dashboard = await start([]);
    try {
      expect((await fetch(`${dashboard.url}api/info`)).status).toBe(200);
      const response = await fetch(`${dashboard.url}metrics`);
      expect(response.status).toBe(200);
      expect(await response.text()).toMatch(/^http_requests_total\{[^}]*route="\/api\/info"/m);
    } finally {
      await dashboard.stop();
    }
  });

  it("is served at --metrics_address when that names an address, and not on the page's port", async () => {
    const dashboard = await start(["--metrics_address=127.0.0.1:0"]);
    try {
      expect(dashboard.metricsAddress).toMatch(/^127\.0\.0\.1:\d+$/);
      const response = await fetch(`http://${dashboard.metricsAddress}/metrics`);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain("# TYPE nodejs_");
      expect((await fetch(`${dashboard.url}metrics`)).status).toBe(404);
    } finally {
      await dashboard.stop();
    }
  });
});
