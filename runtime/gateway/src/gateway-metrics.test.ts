import Fastify from "fastify";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { GatewayMetrics } from "./gateway-metrics.js";

/** The `http_requests_total` samples as `method route code -> count`. */
async function requests(registry: Registry): Promise<Record<string, number>> {
  const lines = (await registry.metrics()).split("\n").filter((l) => l.startsWith("http_requests_total{"));
  return Object.fromEntries(
    lines.map((line) => {
      const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      return [`${labels.method} ${labels.route} ${labels.code}`, Number(line.slice(line.lastIndexOf(" ") + 1))];
    }),
  );
}

/** An app as the gateway builds it: routes named by the dispatcher, a catch-all, and a hijacking (proxy) route. */
async function appWith(metrics: GatewayMetrics) {
  const app = Fastify();
  metrics.mount(app);
  app.get("/v1/users/:id", async (request) => {
    metrics.route(request, "/v1/users/{id}");
    return { ok: true };
  });
  app.get("/proxy/*", async (_request, reply) => {
    reply.hijack();
    reply.raw.writeHead(201).end("proxied");
  });
  app.all("/*", async (_request, reply) => reply.code(404).send({ error: "no route" }));
  await app.ready();
  return app;
}

describe("the gateway's HTTP metrics", () => {
  it("label requests by route template, never by raw path, hijacked replies included", async () => {
    const registry = new Registry();
    const app = await appWith(new GatewayMetrics(registry));
    try {
      for (const id of ["1", "2", "3"]) await app.inject({ method: "GET", url: `/v1/users/${id}` });
      await app.inject({ method: "GET", url: "/no/such/path" });
      await app.inject({ method: "GET", url: "/proxy/anything" });
      expect(await requests(registry)).toEqual({
        "GET /v1/users/{id} 200": 3,
        "GET unmatched 404": 1,
        "GET /proxy/* 201": 1,
      });
      const metrics = await app.inject({ method: "GET", url: "/metrics" });
      expect(metrics.statusCode).toBe(200);
      expect(metrics.body).toContain(
        'http_request_duration_seconds_count{method="GET",route="/v1/users/{id}",code="200"} 3',
      );
      // A scrape is no one's request.
      await app.inject({ method: "GET", url: "/metrics" });
      expect(Object.keys(await requests(registry)).filter((key) => key.includes("/metrics"))).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it("count no request for /metrics where another port serves it (a health probe's 404)", async () => {
    const registry = new Registry();
    const metrics = new GatewayMetrics(registry);
    const app = Fastify();
    metrics.mount(app, false);
    app.all("/*", async (_request, reply) => reply.code(404).send({ error: "no route" }));
    await app.ready();
    try {
      expect((await app.inject({ method: "GET", url: "/metrics" })).statusCode).toBe(404);
      await app.inject({ method: "GET", url: "/elsewhere" });
      expect(await requests(registry)).toEqual({ "GET unmatched 404": 1 });
    } finally {
      await app.close();
    }
  });

  it("name a proxying gateway's catch-all as its route", async () => {
    const registry = new Registry();
    const app = await appWith(new GatewayMetrics(registry, { proxied: true }));
    try {
      await app.inject({ method: "GET", url: "/hello/who" });
      expect(await requests(registry)).toEqual({ "GET /* 404": 1 });
    } finally {
      await app.close();
    }
  });
});
