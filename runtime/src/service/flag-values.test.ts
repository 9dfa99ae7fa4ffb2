import { describe, expect, it } from "vitest";
import { checkRuntimeFlags, runtimeFlagNames } from "./flag-names.js";
import { byteSize, checkFlagSpelling, duration, durationText, sizeText } from "./flag-values.js";

describe("checkFlagSpelling", () => {
  it.each([
    [["--adress=127.0.0.1:1"], ["address"], "unknown flag --adress: did you mean --address?"],
    [["--registy", "etcd"], runtimeFlagNames, "unknown flag --registy: did you mean --registry?"],
    [["--registry-address=x"], runtimeFlagNames, "unknown flag --registry-address: did you mean --registry_address?"],
    [["--databse_dir=/tmp/db"], runtimeFlagNames, "unknown flag --databse_dir: did you mean --database_dir?"],
    [["--client_retires=2"], runtimeFlagNames, "unknown flag --client_retires: did you mean --client_retries?"],
    // The gateway's --address, given to a service, and a slip of it.
    [
      ["--address=:9000"],
      runtimeFlagNames,
      "unknown flag --address: did you mean --server_address? (--address is tsmicro api's)",
    ],
    [
      ["--adress=:9000"],
      runtimeFlagNames,
      "unknown flag --adress: did you mean --server_address? (--address is tsmicro api's)",
    ],
  ])("refuses %j, a slip of a known flag", (args, known, message) => {
    expect(() => checkFlagSpelling(args, known, undefined, { serves: true })).toThrow(message);
  });

  it("leaves --address to a program that serves nothing (a connect() script)", () => {
    expect(() => checkFlagSpelling(["--address=10.0.0.5:80"], runtimeFlagNames)).not.toThrow();
  });

  it("leaves known flags, the program's own flags and what follows -- alone", () => {
    expect(() =>
      checkFlagSpelling(
        [
          "--registry=local",
          "--registry_address",
          "/tmp/r",
          "--seed-users",
          "--verbose",
          "positional",
          "--",
          "--adress",
        ],
        [...runtimeFlagNames, "address"],
      ),
    ).not.toThrow();
  });
});

describe("checkRuntimeFlags", () => {
  it.each([
    [["--migrate", "user"], {}, '--migrate has an invalid value "user": use on or off'],
    [["--broker_jetstream=maybe"], {}, '--broker_jetstream has an invalid value "maybe": use on or off'],
    [
      ["--broker_jetstream=on"],
      {},
      "--broker_jetstream has an invalid value on: JetStream is NATS's, and the broker is http (at most once): add --broker nats, or turn --broker_jetstream off",
    ],
    [
      ["--broker", "memory"],
      { TSMICRO_BROKER_JETSTREAM: "on" },
      "--broker_jetstream has an invalid value on: JetStream is NATS's, and the broker is memory (at most once): add --broker nats, or turn --broker_jetstream off",
    ],
    [["--registry=bogus"], {}, '--registry has an invalid value "bogus": use one of local, etcd, memory'],
    [
      ["--registry=etcd", "--registry_address=127.0.0.1:notaport"],
      {},
      '--registry_address has an invalid value "127.0.0.1:notaport": use host:port, such as 127.0.0.1:2379 or http://etcd-1:2379, or a host alone for port 2379',
    ],
    [["--server_address=banana"], {}, '--server_address has an invalid value "banana": use host:port'],
    [["--metrics_address=127.0.0.1:99999"], {}, '--metrics_address has an invalid value "127.0.0.1:99999": port 99999'],
    [["--server_advertise=banana"], {}, '--server_advertise has an invalid value "banana": use host:port'],
    [
      ["--broker_address=nats://127.0.0.1:1"],
      {},
      '--broker_address has an invalid value "nats://127.0.0.1:1": the http broker listens there',
    ],
    [["--breaker_buckets=0"], {}, '--breaker_buckets has an invalid value "0": expected a whole number >= 1'],
    [["--max_queue=-2"], {}, '--max_queue has an invalid value "-2"'],
    [[], { TSMICRO_MIGRATE: "maybe" }, 'TSMICRO_MIGRATE has an invalid value "maybe": use on or off'],
    [["--registy=etcd"], {}, "unknown flag --registy: did you mean --registry?"],
  ])("refuses %j (env %j) as a service would", (args, env, message) => {
    expect(() => checkRuntimeFlags(args, env)).toThrow(message);
  });

  it("accepts what every table accepts, and leaves the program's own flags alone", () => {
    const args = ["--migrate=on", "--broker", "nats", "--breaker_window=20s", "--rate_limit=100", "--seed", "5"];
    expect(() => checkRuntimeFlags(args, { TSMICRO_REGISTRY: "etcd" })).not.toThrow();
  });
});

describe("durationText and sizeText", () => {
  it("write a default as its flag takes it, in the largest whole unit, and read back to the same value", () => {
    const durations = [
      [7_200_000, "2h"],
      [60_000, "1m"],
      [10_000, "10s"],
      [100, "100ms"],
      [1_500, "1500ms"],
      [0, "0ms"],
    ];
    for (const [ms, text] of durations) {
      expect(durationText(ms as number)).toBe(text);
      expect(duration(text as string, "--x")).toBe(ms);
    }
    const sizes = [
      [4 * 1024 * 1024, "4MB"],
      [512 * 1024, "512KB"],
      [1024 ** 3, "1GB"],
      [1000, "1000"],
      [-1, "unlimited"],
    ];
    for (const [bytes, text] of sizes) {
      expect(sizeText(bytes as number)).toBe(text);
      expect(byteSize(text as string, "--x")).toBe(bytes);
    }
  });
});
