/**
 * `tsmicro api` and `tsmicro web` take every service flag (one flag set is often handed to every
 * process), but some only a service reads: each given on the command line is warned about once at
 * start, naming the flag and what reads it, and the program runs on. A real `tsmicro api` process,
 * and the gateway and dashboard in this process with their program named as the CLI names it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDashboard, createGateway } from "@tsmicro/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordingLogger } from "../runtime/src/broker/testdata/broker-conformance.js";
import { killAllNodes, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

describe("flags tsmicro api and tsmicro web accept but do not read", () => {
  let dir = "";
  let flags: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-unread-flags-"));
    flags = ["--registry=local", `--registry_address=${dir}`, "--metrics_address=off"];
  });

  afterAll(async () => {
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("tsmicro api warns of each at start, once, and starts; the flags it reads it does not warn of", async () => {
    const api = await startNode("bin/tsmicro.ts", [
      "api",
      ...flags,
      "--address=127.0.0.1:0",
      "--rate_limit=100",
      "--server_max_recv_msg_size",
      "8MB",
      "--database_url=postgres://127.0.0.1:1/none",
      "--broker=nats",
      "--rate_limit=50",
      "--client_retries=2",
      "--breaker_error_threshold=40",
    ]);
    const lines = api
      .output()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { level: number; msg: string; flag?: string });
    const warned = lines.filter((line) => line.flag !== undefined);
    expect(warned.map((line) => [line.level, line.msg])).toEqual([
      [
        40,
        "tsmicro api does not read --rate_limit: a service's server protection reads it; tsmicro api limits requests per route, with rateLimit in --config's rules (docs/gateway.md)",
      ],
      [
        40,
        "tsmicro api does not read --server_max_recv_msg_size: a service's gRPC server reads it; tsmicro api serves HTTP at --address",
      ],
      [40, "tsmicro api does not read --database_url: a service's database reads it"],
      [
        40,
        "tsmicro api does not read --broker: a service's broker reads it, and tsmicro api only with --handler event, which publishes to it",
      ],
    ]);
    // At start, before it says it started.
    expect(lines.findIndex((line) => line.msg === "gateway started")).toBeGreaterThan(lines.indexOf(warned.at(-1)!));
    api.kill("SIGTERM");
    expect(await api.exited).toBe(0);
  });

  it("tsmicro api --handler event reads the broker's flags", async () => {
    const { logger, entries } = recordingLogger();
    const gateway = createGateway({
      args: [...flags, "--address=127.0.0.1:0", "--handler=event", "--broker=memory", "--migrate=on"],
      env: suiteEnv(),
      logger,
      program: "tsmicro api",
    });
    await gateway.start();
    await gateway.stop();
    expect(entries.filter((e) => e.level === "warn").map((e) => e.fields.flag)).toEqual(["--migrate"]);
  });

  it("a gateway embedded in a program (no program named) leaves the flags to it, without a word", async () => {
    const { logger, entries } = recordingLogger();
    const gateway = createGateway({
      args: [...flags, "--address=127.0.0.1:0", "--rate_limit=5", "--database_url=postgres://127.0.0.1:1/x"],
      env: suiteEnv(),
      logger,
    });
    await gateway.start();
    await gateway.stop();
    expect(entries.filter((e) => e.fields.flag !== undefined)).toEqual([]);
  });

  it("tsmicro web warns of a service's broker, database and server flags, not of its client's", async () => {
    const { logger, entries } = recordingLogger();
    const dashboard = createDashboard({
      args: [
        ...flags,
        "--address=127.0.0.1:0",
        "--broker=nats",
        "--migrate=on",
        "--server_address=:9000",
        "--client_retries=1",
      ],
      env: suiteEnv(),
      logger,
      program: "tsmicro web",
    });
    await dashboard.start();
    await dashboard.stop();
    expect(entries.filter((e) => e.level === "warn").map((e) => e.message)).toEqual([
      "tsmicro web does not read --broker: a service's broker reads it; tsmicro web publishes no events",
      "tsmicro web does not read --migrate: a service's database reads it",
      "tsmicro web does not read --server_address: a service's gRPC server reads it; tsmicro web serves HTTP at --address",
    ]);
  });
});
