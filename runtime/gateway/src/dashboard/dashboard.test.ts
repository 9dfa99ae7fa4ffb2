import { request } from "node:http";
import { createMemoryRegistry, type Registry, silentLogger } from "@tsmicro/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../gateway.js";
import { createDashboard, type Dashboard, type DashboardOptions } from "./dashboard.js";

const running: (Dashboard | Gateway)[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function dashboardOn(address: string, extra: string[] = [], options: Pick<DashboardOptions, "openApi"> = {}) {
  const registry = createMemoryRegistry();
  const dashboard = createDashboard({
    ...options,
    args: ["--registry=memory", `--address=${address}`, "--metrics_address=off", ...extra],
    env: { OTEL_SDK_DISABLED: "true" },
    registry,
    logger: silentLogger(),
  });
  running.push(dashboard);
  await dashboard.start();
  const port = new URL(dashboard.url!).port;
  return { registry, base: `http://127.0.0.1:${port}/` };
}

/** POST of callBody with the given Host header (fetch sets its own). */
function postWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { method: "POST", headers: { host, "content-type": "application/json" } },
      (incoming) => {
        let body = "";
        incoming.on("data", (chunk: Buffer) => (body += chunk.toString()));
        incoming.on("end", () => resolve({ status: incoming.statusCode ?? 0, body }));
      },
    );
    outgoing.on("error", reject);
    outgoing.end(callBody);
  });
}

const callBody = JSON.stringify({ service: "nowhere", method: "Alpha.Unary", request: {} });
const post = (url: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: callBody });

describe("the dashboard is safe by default", () => {
  it("refuses calls while bound beyond loopback, saying which flag allows them", async () => {
    const { base } = await dashboardOn("0.0.0.0:0");
    expect(await (await fetch(`${base}api/info`)).json()).toMatchObject({ calls: "off" });
    const response = await post(`${base}api/call`);
    expect(response.status).toBe(403);
    expect(((await response.json()) as { message: string }).message).toContain("--dashboard_calls on");
  });

  it("says calls are off by flag, not by address, when --dashboard_calls off turns them off on loopback", async () => {
    const { base } = await dashboardOn("127.0.0.1:0", ["--dashboard_calls=off"]);
    const response = await post(`${base}api/call`);
    expect(response.status).toBe(403);
    const { message } = (await response.json()) as { message: string };
    expect(message).toContain("(--dashboard_calls off)");
    expect(message).not.toContain("beyond loopback");
  });

  it("asks for the token when one is set, and lets a call with it through", async () => {
    const { base } = await dashboardOn("127.0.0.1:0", ["--dashboard_token=s3cret"]);
    expect(await (await fetch(`${base}api/info`)).json()).toMatchObject({ calls: "token" });
    expect((await post(`${base}api/call`)).status).toBe(401);
    const wrong = await post(`${base}api/call`, { "x-dashboard-token": "wrong!" });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { message: string }).message).toContain("X-Dashboard-Token");
    // Its own header, so Authorization stays free for a JWT; past the guard, the service is unknown.
    const admitted = await post(`${base}api/call`, {
      "x-dashboard-token": "s3cret",
      authorization: "Bearer a.jwt.here",
    });
    expect(admitted.status).toBe(404);
    expect(((await admitted.json()) as { message: string }).message).toBe("no service nowhere is registered");
    // As pages sent it before: in Authorization.
    expect((await post(`${base}api/call`, { authorization: "Bearer wrong!" })).status).toBe(401);
    expect((await post(`${base}api/call`, { authorization: "Bearer s3cret" })).status).toBe(404);
  });

  it("answers no call a page of another site sends: not by its Origin, not through a name that resolves to loopback", async () => {
    const { base } = await dashboardOn("127.0.0.1:0");
    const foreign = await post(`${base}api/call`, { origin: "https://x.example" });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { message: string }).message).toBe(
      "the dashboard answers its own page only: a request from the page of https://x.example is refused",
    );
    expect((await fetch(`${base}api/services`, { headers: { origin: "https://x.example" } })).status).toBe(403);
    // The page's own calls carry its own origin.
    expect((await post(`${base}api/call`, { origin: base.slice(0, -1) })).status).toBe(404);
    // DNS rebinding: evil.example resolves to 127.0.0.1, and the browser sends its name as Host.
    const rebound = await postWithHost(`${base}api/call`, `evil.example:${new URL(base).port}`);
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain("open to its page at a loopback address only");
    // Names that only look like loopback addresses are names too.
    for (const name of ["127.attacker.example", "127.0.0.1.evil.example", "127.1.evil.example"])
      expect((await postWithHost(`${base}api/call`, `${name}:${new URL(base).port}`)).status, name).toBe(403);
    expect((await postWithHost(`${base}api/call`, `localhost:${new URL(base).port}`)).status).toBe(404);
  });

  it("shows node metadata without credentials", async () => {
    const { registry, base } = await dashboardOn("127.0.0.1:0");
    await registry.register(
      {
        name: "billing",
        version: "1",
        metadata: {},
        endpoints: [],
        nodes: [
          { id: "billing-1", address: "127.0.0.1:1", metadata: { region: "eu", api_key: "k-123", db_password: "pw" } },
        ],
      },
      { ttlMs: 60_000 },
    );
    const text = await (await fetch(`${base}api/services`)).text();
    expect(JSON.parse(text)[0].nodes[0].metadata).toEqual({
      region: "eu",
      api_key: "[redacted]",
      db_password: "[redacted]",
    });
    expect(text).not.toContain("k-123");
  });
});

describe("the dashboard while the registry does not answer", () => {
  it("still lists the services last read to a page opened during the outage, as its banner says", async () => {
    const memory = createMemoryRegistry();
    let down = false;
    const failing = () => Promise.reject(new Error("etcd registry at 127.0.0.1:2379: nothing listens there"));
    let stopWatch = () => {};
    const watchStopped = new Promise<void>((resolve) => (stopWatch = resolve));
    // The memory registry, made to fail its reads as an unreachable etcd does while `down`; its watch
    // says when it stops, which the dashboard does once no page is open.
    const registry: Registry = Object.assign(Object.create(memory) as Registry, {
      listServices: () => (down ? failing() : memory.listServices()),
      getService: (name: string) => (down ? failing() : memory.getService(name)),
      watch: () => {
        const watcher = memory.watch();
        const stop = watcher.stop.bind(watcher);
        return Object.assign(watcher, {
          stop: () => {
            stop();
            stopWatch();
          },
        });
      },
    });
    const dashboard = createDashboard({
      args: ["--registry=memory", "--address=127.0.0.1:0", "--metrics_address=off"],
      env: { OTEL_SDK_DISABLED: "true" },
      registry,
      logger: silentLogger(),
    });
    running.push(dashboard);
    await dashboard.start();
    const node = { id: "billing-1", address: "127.0.0.1:1", metadata: {} };
    await memory.register(
      { name: "billing", version: "1", metadata: {}, endpoints: [], nodes: [node] },
      { ttlMs: 60_000 },
    );
    const events = `${dashboard.url!}api/events`;
    // A first page reads the services, then closes; the registry goes away; a second page opens.
    expect((await eventsUntil(events, "services")).at(-1)).toMatchObject({ services: [{ name: "billing" }] });
    await watchStopped;
    down = true;
    const second = await eventsUntil(events, "registry");
    expect(second.at(-1)).toMatchObject({ error: expect.stringContaining("nothing listens there") });
    expect(second.filter((event) => event.type === "services")).toMatchObject([{ services: [{ name: "billing" }] }]);
  });
});

/** The events of a page's `api/events` stream, up to and including the first of type `last`. */
async function eventsUntil(url: string, last: string): Promise<{ type: string }[]> {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  const decoder = new TextDecoder();
  const events: { type: string }[] = [];
  let text = "";
  try {
    for await (const chunk of response.body!) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n")) {
        const data = text
          .slice(0, end)
          .split("\n")
          .find((line) => line.startsWith("data: "));
        text = text.slice(end + 2);
        if (data === undefined) continue;
        const event = JSON.parse(data.slice("data: ".length)) as { type: string };
        events.push(event);
        if (event.type === last) return events;
      }
    }
    throw new Error(`the event stream ended before a ${last} event`);
  } finally {
    controller.abort();
  }
}

describe("tsmicro web", () => {
  it("serves the services' merged OpenAPI document when given the builder, and links it", async () => {
    const { base } = await dashboardOn("127.0.0.1:0", [], { openApi: () => ({}) });
    expect(await (await fetch(`${base}api/info`)).json()).toMatchObject({ openApi: "openapi.json" });
    const document = (await (await fetch(`${base}openapi.json`)).json()) as { openapi: string; paths: object };
    expect(document.openapi).toMatch(/^3\./);
    expect(document.paths).toEqual({});
  });
});

describe("tsmicro api --dashboard on", () => {
  it("serves the page and its API under /dashboard/, with the gateway's OpenAPI document linked", async () => {
    const gateway = createGateway({
      args: ["--registry=memory", "--address=127.0.0.1:0", "--dashboard=on", "--metrics_address=off"],
      env: { OTEL_SDK_DISABLED: "true" },
      registry: createMemoryRegistry(),
      logger: silentLogger(),
      openApi: () => ({}),
    });
    running.push(gateway);
    await gateway.start();
    const moved = await fetch(`${gateway.url}/dashboard`, { redirect: "manual" });
    expect(moved.status).toBe(308);
    expect(moved.headers.get("location")).toBe("/dashboard/");
    const page = await fetch(`${gateway.url}/dashboard/`);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain('src="app.js"');
    expect(await (await fetch(`${gateway.url}/dashboard/api/info`)).json()).toEqual({
      registry: "memory",
      calls: "open",
      jwt: false,
      openApi: "/openapi.json",
    });
    // The gateway's own routes are untouched.
    expect((await fetch(`${gateway.url}/openapi.json`)).status).toBe(200);
  });

  it("keeps the dashboard's API to its own page whatever CORS the gateway's routes allow", async () => {
    const gateway = createGateway({
      args: [
        "--registry=memory",
        "--address=127.0.0.1:0",
        "--dashboard=on",
        "--metrics_address=off",
        "--cors_origins=*",
      ],
      env: { OTEL_SDK_DISABLED: "true" },
      registry: createMemoryRegistry(),
      logger: silentLogger(),
    });
    running.push(gateway);
    await gateway.start();
    expect((await post(`${gateway.url}/dashboard/api/call`, { origin: "https://x.example" })).status).toBe(403);
    expect((await post(`${gateway.url}/dashboard/api/call`)).status).toBe(404);
  });
});
