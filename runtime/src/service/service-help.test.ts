import { describe, expect, it } from "vitest";
import { runtimeFlagNames } from "./flag-names.js";
import { asksForHelp, serviceHelp } from "./service-help.js";

describe("serviceHelp", () => {
  it("names every flag a service reads once, each under the page that describes it", () => {
    const help = serviceHelp("user", runtimeFlagNames);
    const named = help
      .split("\n")
      .filter((line) => line.startsWith("  "))
      .flatMap((line) => line.trim().split(" "));
    expect(named.toSorted()).toEqual(runtimeFlagNames.map((flag) => `--${flag}`).toSorted());
    expect(help).toMatch(/^user: a tsmicro service\./);
    expect(help).toContain("broker (docs/broker.md):\n  --broker --broker_address --broker_jetstream\n");
    expect(help).toContain("TSMICRO_<NAME> and, as an alias, MICRO_<NAME>");
    for (const line of help.split("\n")) expect(line.length).toBeLessThanOrEqual(100);
  });

  it("leaves out the concerns of flags a program does not read (a web service has no broker)", () => {
    expect(serviceHelp("site", ["registry", "log_level"])).not.toContain("broker");
  });
});

describe("asksForHelp", () => {
  it("is --help or -h, not after --, where the words are the program's", () => {
    expect(asksForHelp(["--registry=etcd", "--help"])).toBe(true);
    expect(asksForHelp(["-h"])).toBe(true);
    expect(asksForHelp(["--", "--help"])).toBe(false);
    expect(asksForHelp(["--helpful=1"])).toBe(false);
  });
});
