import { describe, expect, it } from "vitest";
import { unreadFlags } from "./unread-flags.js";

const api = { program: "tsmicro api", handler: "rpc" };
const web = { program: "tsmicro web" };
const flagsOf = (args: string[], reader: { program: string; handler?: string }) =>
  unreadFlags(args, reader).map((u) => u.flag);

describe("unreadFlags", () => {
  it("names a service's server, registration, protection and database flags, each once, in the order given", () => {
    const args = ["--rate_limit=5", "--server_max_recv_msg_size", "4MB", "--register_ttl=30s", "--rate_limit=6"];
    expect(flagsOf([...args, "--database_url=postgres://db/x", "-migrate=on"], api)).toEqual([
      "--rate_limit",
      "--server_max_recv_msg_size",
      "--register_ttl",
      "--database_url",
      "--migrate",
    ]);
    expect(unreadFlags(["--max_concurrent=10"], api)[0]!.readBy).toBe(
      "a service's server protection reads it; tsmicro api limits requests per route, with rateLimit in --config's rules (docs/gateway.md)",
    );
    expect(unreadFlags(["--server_address=:9000"], web)[0]!.readBy).toBe(
      "a service's gRPC server reads it; tsmicro web serves HTTP at --address",
    );
  });

  it("leaves out what the gateway and the dashboard read: registry, selector, client, breaker, logs, tracing, metrics", () => {
    const read = [
      "--registry=etcd",
      "--registry_address=127.0.0.1:2379",
      "--selector=random",
      "--client_retries=2",
      "--client_request_timeout=5s",
      "--transport=grpc",
      "--breaker_error_threshold=50",
      "--log_level=debug",
      "--trace_endpoint=http://127.0.0.1:4318",
      "--metrics_address=off",
      "--shutdown_grace=5s",
    ];
    expect(flagsOf(read, api)).toEqual([]);
    expect(flagsOf(read, web)).toEqual([]);
  });

  it("names the broker's flags unless tsmicro api publishes (--handler event)", () => {
    const args = ["--broker=nats", "--broker_address", "127.0.0.1:4222", "--broker_jetstream=on"];
    const all = ["--broker", "--broker_address", "--broker_jetstream"];
    expect(flagsOf(args, api)).toEqual(all);
    expect(flagsOf(args, { program: "tsmicro api", handler: "web" })).toEqual(all);
    expect(flagsOf(args, { program: "tsmicro api", handler: "event" })).toEqual([]);
    expect(unreadFlags(args, web)[0]!.readBy).toBe("a service's broker reads it; tsmicro web publishes no events");
  });

  it("reads no further than --, and takes values and the gateway's own flags for what they are", () => {
    expect(flagsOf(["--address", "-1", "--handler=rpc", "--", "--rate_limit=5"], api)).toEqual([]);
  });
});
