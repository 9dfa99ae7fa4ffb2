import { describe, expect, it } from "vitest";
import { brokerFlagUsage } from "./broker-settings.js";
import { natsBrokerDefaults } from "./nats-broker.js";

describe("broker flags' --help", () => {
  it("names the NATS servers --broker nats dials when --broker_address gives none", () => {
    expect(brokerFlagUsage.broker_address.usage).toContain(`(default ${natsBrokerDefaults.servers.join(",")})`);
  });
});
