import { describe, expect, it } from "vitest";
import { defaultServiceSettings, loggerSettings, resolveServiceSettings } from "./settings.js";
import { strategies } from "../selector/strategies.js";

describe("resolveServiceSettings", () => {
  it("uses the defaults when nothing is given", () => {
    expect(resolveServiceSettings({}, [], {})).toEqual(defaultServiceSettings);
  });

  it("reads go-micro's flags, durations in seconds or with units", () => {
    const settings = resolveServiceSettings(
      {},
      [
        "--registry=etcd",
        "--registry_address",
        "127.0.0.1:2379,127.0.0.1:22379",
        "--register_ttl=10",
        "--register_interval=500ms",
        "--client_retries=3",
        "--client_request_timeout=2s",
        "--client_pool_size=4",
        "--selector=random",
        "--server_address=127.0.0.1:9000",
        "--unrelated=flag",
        "positional",
      ],
      {},
    );
    expect(settings).toMatchObject({
      registry: "etcd",
      registryAddress: ["127.0.0.1:2379", "127.0.0.1:22379"],
      registerTtlMs: 10_000,
      registerIntervalMs: 500,
      clientRetries: 3,
      clientRequestTimeoutMs: 2_000,
      clientPoolSize: 4,
      selector: "random",
      serverAddress: "127.0.0.1:9000",
    });
  });

  it("layers code, MICRO_*, TSMICRO_* and flags, later winning", () => {
    const env = {
      MICRO_REGISTRY: "etcd",
      MICRO_CLIENT_RETRIES: "2",
      TSMICRO_CLIENT_RETRIES: "4",
      MICRO_SELECTOR: "random",
    };
    const settings = resolveServiceSettings(
      { registry: "memory", selector: "p2c", clientPoolSize: 3 },
      ["--selector=roundrobin"],
      env,
    );
    expect(settings).toMatchObject({ registry: "etcd", clientRetries: 4, selector: "roundrobin", clientPoolSize: 3 });
  });

  it("takes go-micro's --selector=cache as the default strategy: every selector here is cached", () => {
    expect(resolveServiceSettings({}, ["--selector=cache"], {}).selector).toBe("cache");
    expect(strategies.cache).toBe(strategies.leastinflight);
  });

  it("names the flag or variable with a bad value and says what fits", () => {
    expect(() => resolveServiceSettings({}, ["--registry=consul"], {})).toThrow(
      '--registry has an invalid value "consul": use one of local, etcd, memory',
    );
    expect(() => resolveServiceSettings({}, [], { TSMICRO_CLIENT_RETRIES: "-1" })).toThrow(
      'TSMICRO_CLIENT_RETRIES has an invalid value "-1": expected a whole number >= 0',
    );
    // A TTL of 0 expires at once; a heartbeat every 0 ms rewrites the registry a thousand times a second.
    expect(() => resolveServiceSettings({}, ["--register_ttl=0"], {})).toThrow(
      '--register_ttl has an invalid value "0": expected a duration above 0, such as 15s or 30s',
    );
    expect(() => resolveServiceSettings({}, ["--register_interval=0s"], {})).toThrow(
      '--register_interval has an invalid value "0s": expected a duration above 0, such as 15s or 30s',
    );
    // A call timeout of 0 would fail every unary call unsent, "its deadline had passed".
    expect(() => resolveServiceSettings({}, ["--client_request_timeout=0"], {})).toThrow(
      '--client_request_timeout has an invalid value "0": expected a duration above 0, such as 500ms or 5s',
    );
    expect(() => resolveServiceSettings({}, ["--register_ttl=soon"], {})).toThrow(
      "--register_ttl has an invalid value",
    );
    expect(() => resolveServiceSettings({}, ["--registry"], {})).toThrow(
      "--registry has an invalid value (none): give it a value, as --registry=VALUE",
    );
  });

  it("refuses a malformed etcd endpoint of --registry_address as it reads it, naming it, as --server_address", () => {
    const etcd = (address: string) => () =>
      resolveServiceSettings({}, ["--registry=etcd", `--registry_address=${address}`], {});
    const use = "use host:port, such as 127.0.0.1:2379 or http://etcd-1:2379, or a host alone for port 2379";
    expect(etcd("127.0.0.1:notaport")).toThrowError(
      expect.objectContaining({
        code: "TSM_ERR_FLAG",
        message: `--registry_address has an invalid value "127.0.0.1:notaport": ${use}`,
      }),
    );
    // Every endpoint of the list is checked; the refusal names the bad one.
    expect(etcd("127.0.0.1:2379, 127.0.0.1:99999")).toThrow(
      '--registry_address has an invalid value "127.0.0.1:99999": port 99999 is past 65535; such as 127.0.0.1:2379 or http://etcd-1:2379',
    );
    expect(etcd(":2379")).toThrow(`--registry_address has an invalid value ":2379": ${use}`);
    expect(etcd("http://:2379")).toThrow(`--registry_address has an invalid value "http://:2379": ${use}`);
    expect(() =>
      resolveServiceSettings({}, [], { TSMICRO_REGISTRY: "etcd", TSMICRO_REGISTRY_ADDRESS: "etcd-1:23x9" }),
    ).toThrow(`TSMICRO_REGISTRY_ADDRESS has an invalid value "etcd-1:23x9": ${use}`);
    // Well-formed ones pass as given; a host alone gets etcd's port when dialled.
    for (const address of ["127.0.0.1:2379", "etcd-1", "http://etcd-1:2379", "[::1]:2379", "a:1,b:2"])
      expect(etcd(address)().registryAddress.length).toBeGreaterThan(0);
    // The local registry's address is a folder, not an endpoint.
    expect(resolveServiceSettings({}, ["--registry_address=/tmp/reg:x"], {}).registryAddress).toEqual(["/tmp/reg:x"]);
    // An etcd endpoint, or a list, given with the registry left local (go-micro's habit) is refused, not made a folder.
    const local = "the local registry (--registry local, the default) takes one folder, and this is";
    const etcdToo = "add --registry=etcd to use etcd, or give a folder";
    for (const address of ["127.0.0.1:2379", "http://etcd-1:2379", "etcd-1:2379"])
      expect(() => resolveServiceSettings({}, [`--registry_address=${address}`], {})).toThrowError(
        expect.objectContaining({
          code: "TSM_ERR_FLAG",
          message: `--registry_address has an invalid value "${address}": ${local} an etcd endpoint; ${etcdToo}`,
        }),
      );
    expect(() => resolveServiceSettings({}, [], { MICRO_REGISTRY_ADDRESS: "/a,/b" })).toThrow(
      `MICRO_REGISTRY_ADDRESS has an invalid value "/a,/b": ${local} a list; ${etcdToo}`,
    );
  });

  it("refuses a --server_address or --metrics_address no server can listen on as it reads it, as start() would", () => {
    const use = "use host:port, such as 127.0.0.1:0 or 0.0.0.0:8080";
    expect(() => resolveServiceSettings({}, ["--server_address=banana"], {})).toThrowError(
      expect.objectContaining({
        code: "TSM_ERR_FLAG",
        message: `--server_address has an invalid value "banana": ${use}`,
      }),
    );
    expect(() => resolveServiceSettings({}, ["--server_address=127.0.0.1:99999"], {})).toThrow(
      '--server_address has an invalid value "127.0.0.1:99999": port 99999 is past 65535; such as 127.0.0.1:0 or 0.0.0.0:8080',
    );
    expect(() => resolveServiceSettings({}, [], { TSMICRO_SERVER_ADDRESS: "127.0.0.1:x" })).toThrow(
      `TSMICRO_SERVER_ADDRESS has an invalid value "127.0.0.1:x": ${use}`,
    );
    expect(() => resolveServiceSettings({}, ["--metrics_address=banana"], {})).toThrow(
      `--metrics_address has an invalid value "banana": ${use}, or off`,
    );
    // Every interface, a host name, IPv6 and off pass as given.
    expect(resolveServiceSettings({}, ["--server_address=:9000"], {}).serverAddress).toBe(":9000");
    expect(resolveServiceSettings({}, ["--server_address=[::1]:0"], {}).serverAddress).toBe("[::1]:0");
    expect(resolveServiceSettings({}, ["--metrics_address=localhost:9464"], {}).metricsAddress).toBe("localhost:9464");
    expect(resolveServiceSettings({}, ["--metrics_address=OFF"], {}).metricsAddress).toBe("off");
  });

  it("refuses a --server_advertise callers could not dial: no port, port 0, or IPv6 without brackets", () => {
    const advertise = (address: string) => () => resolveServiceSettings({}, [`--server_advertise=${address}`], {});
    const example = "such as 10.0.0.5:9000, user.internal:9000 or [fd00::5]:9000";
    expect(advertise("banana")).toThrowError(
      expect.objectContaining({
        code: "TSM_ERR_FLAG",
        message: `--server_advertise has an invalid value "banana": use host:port, ${example}`,
      }),
    );
    expect(advertise(":9000")).toThrow(`--server_advertise has an invalid value ":9000": use host:port, ${example}`);
    expect(advertise("10.0.0.5:0")).toThrow(
      `--server_advertise has an invalid value "10.0.0.5:0": callers cannot dial port 0; advertise the port they reach this node on, ${example}`,
    );
    expect(advertise("fd00::5:9000")).toThrow(
      `--server_advertise has an invalid value "fd00::5:9000": write an IPv6 host in brackets, ${example}`,
    );
    expect(advertise("10.0.0.5:70000")).toThrow("port 70000 is past 65535");
    for (const address of ["10.0.0.5:9000", "user.internal:9000", "[fd00::5]:9000"])
      expect(advertise(address)().serverAdvertise).toBe(address);
  });

  it("takes no other flag as a flag's value written as the next word, but a negative number or a lone -", () => {
    // Read as the value, --log_level=debug would name the log file, and the level would stay info.
    expect(() => resolveServiceSettings({}, ["--log_file", "--log_level=debug"], {})).toThrow(
      "--log_file has an invalid value (none): give it a value, as --log_file=VALUE",
    );
    expect(() => resolveServiceSettings({}, ["--server_address", "--"], {})).toThrow(
      "--server_address has an invalid value (none)",
    );
    expect(resolveServiceSettings({}, ["--server_max_recv_msg_size", "-1"], {}).serverMaxRecvMsgSize).toBe(-1);
    expect(resolveServiceSettings({}, ["--log_file=-"], {}).logFile).toBe("-");
    expect(resolveServiceSettings({}, ["--log_file", "-"], {}).logFile).toBe("-");
  });
});

describe("loggerSettings", () => {
  it("rotates a log file, and refuses rotation without one, naming the flag", () => {
    const of = (...args: string[]) => loggerSettings(resolveServiceSettings({}, args, {}));
    expect(of("--log_file=/var/log/user.log", "--log_rotate_size=10m").file).toEqual({
      path: "/var/log/user.log",
      size: "10m",
    });
    expect(() => of("--log_rotate_size=10m")).toThrow(
      '--log_rotate_size has an invalid value "10m": rotation is of a log file: give --log_file PATH too',
    );
    expect(() => of("--log_rotate_keep=3")).toThrow("--log_rotate_keep has an invalid value");
    expect(of().file).toBeUndefined();
  });
});
