import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { Service } from "@tsmicro/runtime";
import { describe, expect, it } from "vitest";
import { MethodStatsBook, parseMetrics } from "./method-stats.js";

describe("parseMetrics", () => {
  it("reads the samples asked for, with their labels, from Prometheus text", () => {
    const text = [
      "# HELP grpc_server_handled_total Total number of RPCs completed on the server.",
      "# TYPE grpc_server_handled_total counter",
      'grpc_server_handled_total{grpc_type="unary",grpc_service="a.v1.Alpha",grpc_method="Unary",grpc_code="OK"} 41',
      'grpc_server_handled_total{grpc_type="unary",grpc_service="a.v1.Alpha",grpc_method="Unary",grpc_code="NOT_FOUND"} 2',
      'tsmicro_breaker_state{service="echo",method="say \\"hi\\""} 2',
      "process_cpu_seconds_total 1.5",
      "",
    ].join("\n");
    const samples = parseMetrics(text, (name) => name !== "process_cpu_seconds_total");
    expect(samples).toEqual([
      {
        name: "grpc_server_handled_total",
        labels: { grpc_type: "unary", grpc_service: "a.v1.Alpha", grpc_method: "Unary", grpc_code: "OK" },
        value: 41,
      },
      {
        name: "grpc_server_handled_total",
        labels: { grpc_type: "unary", grpc_service: "a.v1.Alpha", grpc_method: "Unary", grpc_code: "NOT_FOUND" },
        value: 2,
      },
      { name: "tsmicro_breaker_state", labels: { service: "echo", method: 'say "hi"' }, value: 2 },
    ]);
  });
});

describe("MethodStatsBook", () => {
  const none = async () => undefined;
  const servedBy = (metrics: string): Service[] => [
    {
      name: "alpha",
      version: "1",
      metadata: {},
      endpoints: [],
      nodes: [{ id: "alpha-1", address: "127.0.0.1:1", metadata: { metrics } }],
    },
  ];

  /** A node's /metrics page whose counters the test sets. */
  async function metricsPage() {
    let text = "";
    const server = createServer((_request, response) => response.end(text));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const set = (handledOk: number, handledFailed: number, seconds: number) => {
      const labels = 'grpc_type="unary",grpc_service="a.v1.Alpha",grpc_method="Unary"';
      // prom-client writes a method's counters once it has handled a call.
      if (handledOk + handledFailed === 0) {
        text = "process_cpu_seconds_total 1";
        return;
      }
      text = [
        `grpc_server_handled_total{${labels},grpc_code="OK"} ${handledOk}`,
        `grpc_server_handled_total{${labels},grpc_code="UNAVAILABLE"} ${handledFailed}`,
        `grpc_server_handling_seconds_sum{${labels}} ${seconds}`,
        `grpc_server_handling_seconds_count{${labels}} ${handledOk + handledFailed}`,
      ].join("\n");
    };
    return { address: `127.0.0.1:${port}`, set, close: () => server.close() };
  }

  it("turns the counters into calls, failures and mean latency per second since the read before, counting a restarted node from zero", async () => {
    const page = await metricsPage();
    try {
      const services = servedBy(page.address);
      const book = new MethodStatsBook();
      page.set(100, 10, 1.1);
      await book.read(services, none);
      expect(book.methods()).toEqual([]);
      page.set(130, 20, 1.5);
      await book.read(services, none);
      // The node restarted: its counters start again below the last read.
      page.set(4, 1, 0.05);
      await book.read(services, none);
      const [chart] = book.methods();
      expect(chart).toMatchObject({ service: "alpha", method: "a.v1.Alpha/Unary" });
      const [first, second] = chart!.points;
      // 40 calls, 10 of them failed, 0.4 s of handling between the first reads.
      expect(first!.rate / first!.errors).toBeCloseTo(4, 9);
      expect(first!.latencyMs).toBeCloseTo(10, 9);
      // After the restart: 5 calls, 1 failed, 0.05 s, over the time between the two points.
      const seconds = (second!.t - first!.t) / 1000;
      expect(second!.rate * seconds).toBeCloseTo(5, 9);
      expect(second!.errors * seconds).toBeCloseTo(1, 9);
      expect(second!.latencyMs).toBeCloseTo(10, 9);
    } finally {
      page.close();
    }
  });

  it("counts the first calls of a method on a node it read before: the method's counters appear with them", async () => {
    const page = await metricsPage();
    try {
      const services = servedBy(page.address);
      const book = new MethodStatsBook();
      page.set(0, 0, 0);
      await book.read(services, none);
      await book.read(services, none);
      page.set(2, 1, 0.03);
      await book.read(services, none);
      // One point, the read that found the method: its 3 calls (1 failed, 30 ms in all), not 0.
      const [chart] = book.methods();
      expect(chart?.points).toHaveLength(1);
      const [point] = chart!.points;
      expect(point!.rate).toBeGreaterThan(0);
      expect(point!.rate / point!.errors).toBeCloseTo(3, 9);
      expect(point!.latencyMs).toBeCloseTo(10, 9);
    } finally {
      page.close();
    }
  });

  it("draws zero calls, not the last rate, once no node of the method can be read", async () => {
    const page = await metricsPage();
    const services = servedBy(page.address);
    const book = new MethodStatsBook();
    try {
      page.set(100, 0, 1);
      await book.read(services, none);
      page.set(300, 0, 3);
      await book.read(services, none);
      expect(book.methods()[0]!.points.at(-1)!.rate).toBeGreaterThan(0);
    } finally {
      page.close();
    }
    // The node is killed: still registered until its TTL, and its /metrics does not answer.
    // (Each read is a point over the time since the one before: let the clock move between them.)
    await sleep(5);
    await book.read(services, none);
    const points = book.methods()[0]!.points;
    expect(points).toHaveLength(2);
    expect(points.at(-1)).toMatchObject({ rate: 0, errors: 0, latencyMs: 0 });
    // Gone from the registry as well: the chart still moves on, at zero.
    await sleep(5);
    await book.read([], none);
    expect(book.methods()[0]!.points).toHaveLength(3);
    expect(book.methods()[0]!.points.at(-1)!.rate).toBe(0);
  });

  it("gives each chart its last minute's calls, failures and mean latency, which stay after the calls stop", async () => {
    const page = await metricsPage();
    let now = 1_000_000;
    const book = new MethodStatsBook(() => now);
    try {
      const services = servedBy(page.address);
      page.set(100, 10, 1.1);
      await book.read(services, none);
      // 40 calls in the next second, 10 of them failed, 0.4 s of handling; then none for a second.
      now += 1_000;
      page.set(130, 20, 1.5);
      await book.read(services, none);
      now += 1_000;
      await book.read(services, none);
      const [chart] = book.methods();
      // The last second drew zero; the figures still show the two seconds' calls.
      expect(chart!.points.at(-1)!.rate).toBe(0);
      expect(chart!.recent).toEqual({ seconds: 2, rate: 20, errors: 5, latencyMs: expect.closeTo(10, 9) });
      // A minute after the second of the calls, they are still in it, spread over the minute…
      for (let second = 0; second < 58; second++) {
        now += 1_000;
        await book.read(services, none);
      }
      expect(book.methods()[0]!.recent).toEqual({
        seconds: 60,
        rate: 40 / 60,
        errors: 10 / 60,
        latencyMs: expect.closeTo(10, 9),
      });
      // …and a second later they have left it: no rate, and no latency to show.
      now += 1_000;
      await book.read(services, none);
      expect(book.methods()[0]!.recent).toEqual({ seconds: 60, rate: 0, errors: 0, latencyMs: null });
    } finally {
      page.close();
    }
  });

  it("names a breaker's method as its chart names it, though the breaker's metric labels it with the gRPC path", async () => {
    const page = await metricsPage();
    try {
      page.set(1, 0, 0.01);
      const own = async () => 'tsmicro_breaker_state{service="alpha",method="/a.v1.Alpha/Unary"} 2';
      const book = new MethodStatsBook();
      await book.read(servedBy(page.address), own);
      await book.read(servedBy(page.address), own);
      expect(book.breakers()).toEqual([
        { at: "dashboard", service: "alpha", method: "a.v1.Alpha/Unary", state: "open" },
      ]);
      expect(book.methods().map((chart) => chart.method)).toEqual(["a.v1.Alpha/Unary"]);
    } finally {
      page.close();
    }
  });
});
