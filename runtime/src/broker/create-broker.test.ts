import { readdir, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { brokerSettingsFrom, defaultBrokerSettings } from "./broker-settings.js";
import { createBroker } from "./create-broker.js";

describe("brokerSettingsFrom", () => {
  it("defaults to the embedded http broker", () => {
    expect(brokerSettingsFrom([], {})).toEqual({ broker: "http", brokerAddress: [], brokerJetstream: false });
    expect(defaultBrokerSettings.broker).toBe("http");
  });

  it("reads go-micro's flags, with flags over TSMICRO_* over MICRO_*", () => {
    const env = {
      MICRO_BROKER: "memory",
      MICRO_BROKER_ADDRESS: "nats://10.0.0.1:4222",
      TSMICRO_BROKER: "nats",
      TSMICRO_BROKER_JETSTREAM: "on",
    };
    expect(brokerSettingsFrom([], env)).toEqual({
      broker: "nats",
      brokerAddress: ["nats://10.0.0.1:4222"],
      brokerJetstream: true,
    });
    expect(
      brokerSettingsFrom(["--broker_address", "nats://127.0.0.1:4222, nats://127.0.0.1:4223", "--other", "x"], env),
    ).toMatchObject({ brokerAddress: ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"] });
    expect(brokerSettingsFrom(["--broker=MEMORY", "--broker_jetstream=off"], env)).toMatchObject({ broker: "memory" });
  });

  it("refuses a bad value with TSM_ERR_FLAG naming the flag or variable and the choices", () => {
    expect(() => brokerSettingsFrom(["--broker", "kafka"], {})).toThrowError(
      expect.objectContaining({
        code: "TSM_ERR_FLAG",
        message: expect.stringMatching(/--broker.*kafka.*http, nats, memory/),
      }),
    );
    expect(() => brokerSettingsFrom([], { TSMICRO_BROKER_JETSTREAM: "maybe" })).toThrowError(
      expect.objectContaining({ code: "TSM_ERR_FLAG", message: expect.stringContaining("TSMICRO_BROKER_JETSTREAM") }),
    );
  });

  it("refuses --broker_jetstream on with a broker other than nats as it reads them, as createBroker does", () => {
    const refusal = (broker: string) =>
      `--broker_jetstream has an invalid value on: JetStream is NATS's, and the broker is ${broker} (at most once): add --broker nats, or turn --broker_jetstream off`;
    expect(() => brokerSettingsFrom(["--broker_jetstream=on"], {})).toThrowError(
      expect.objectContaining({ code: "TSM_ERR_FLAG", message: refusal("http") }),
    );
    expect(() => brokerSettingsFrom(["--broker", "memory"], { TSMICRO_BROKER_JETSTREAM: "on" })).toThrow(
      refusal("memory"),
    );
    expect(() => brokerSettingsFrom([], {}, { brokerJetstream: true })).toThrow(refusal("http"));
    // The broker and JetStream may come from different places.
    expect(brokerSettingsFrom(["--broker_jetstream=on"], { TSMICRO_BROKER: "nats" })).toMatchObject({
      broker: "nats",
      brokerJetstream: true,
    });
  });

  it("refuses an address the http broker cannot listen on as it reads it, as createBroker does", () => {
    const refusal = (address: string) =>
      `--broker_address has an invalid value "${address}": the http broker listens there: use host:port, such as 127.0.0.1:0 (NATS URLs go with --broker nats)`;
    expect(() => brokerSettingsFrom(["--broker_address=nats://127.0.0.1:1"], {})).toThrowError(
      expect.objectContaining({ code: "TSM_ERR_FLAG", message: refusal("nats://127.0.0.1:1") }),
    );
    expect(() => brokerSettingsFrom([], { TSMICRO_BROKER_ADDRESS: "127.0.0.1:99999" })).toThrow(
      refusal("127.0.0.1:99999"),
    );
    // The same address is NATS's with --broker nats, from wherever that comes.
    expect(brokerSettingsFrom(["--broker_address=nats://127.0.0.1:1"], { TSMICRO_BROKER: "nats" })).toMatchObject({
      broker: "nats",
    });
    expect(brokerSettingsFrom(["--broker_address=[::1]:8081"], {}).brokerAddress).toEqual(["[::1]:8081"]);
  });
});

describe("createBroker", () => {
  it("builds the broker the settings name", () => {
    const registry = createMemoryRegistry();
    expect(createBroker({ ...defaultBrokerSettings, broker: "memory" }).kind).toBe("memory");
    expect(createBroker(defaultBrokerSettings, { registry }).kind).toBe("http");
    expect(createBroker({ ...defaultBrokerSettings, broker: "nats" }).kind).toBe("nats");
    expect(() => createBroker(defaultBrokerSettings)).toThrow(/registry/);
  });

  it("refuses --broker_jetstream on with a broker other than nats, rather than ignore it", () => {
    const registry = createMemoryRegistry();
    for (const broker of ["http", "memory"] as const)
      expect(() =>
        createBroker({ ...defaultBrokerSettings, broker, brokerJetstream: true }, { registry }),
      ).toThrowError(
        expect.objectContaining({
          code: "TSM_ERR_FLAG",
          message: expect.stringMatching(/--broker_jetstream.*add --broker nats/),
        }),
      );
  });

  it("refuses a URL as the http broker's listen address with TSM_ERR_FLAG naming --broker_address", () => {
    const registry = createMemoryRegistry();
    const http = (address: string) => () =>
      createBroker({ ...defaultBrokerSettings, brokerAddress: [address] }, { registry });
    expect(http("nats://127.0.0.1:4222")).toThrowError(
      expect.objectContaining({ code: "TSM_ERR_FLAG", message: expect.stringContaining("--broker_address") }),
    );
    expect(http("127.0.0.1:99999")).toThrow(/host:port/);
    expect(http("127.0.0.1:0")().kind).toBe("http");
    expect(http("[::1]:8081")().kind).toBe("http");
  });

  it("loads the nats client only when a NATS broker starts: no file imports it but as types", async () => {
    const folder = new URL("./", import.meta.url);
    const sources = (await readdir(folder)).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
    for (const file of sources) {
      const text = await readFile(new URL(file, folder), "utf8");
      expect(text, file).not.toMatch(/^import (?!type )[^;]*from "nats";/m);
    }
  });
});

describe("a NATS broker chosen by flags", () => {
  it("fails to start with TSM_ERR_BROKER_UNREACHABLE naming --broker_address when nothing listens there", async () => {
    const address = `nats://127.0.0.1:${await closedPort()}`;
    const settings = brokerSettingsFrom(["--broker", "nats", "--broker_address", address], {});
    const error = await createBroker(settings)
      .start()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "SetupError", code: "TSM_ERR_BROKER_UNREACHABLE" });
    expect((error as Error).message).toContain(address);
    expect((error as Error).message).toContain("--broker_address");
  });
});

/** A port on 127.0.0.1 nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === "string") throw new Error("no port");
  return address.port;
}
