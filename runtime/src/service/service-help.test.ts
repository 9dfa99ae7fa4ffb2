import { describe, expect, it } from "vitest";
import { runtimeFlagNames, runtimeFlagUsage } from "./flag-names.js";
import { asksForHelp, serviceHelp } from "./service-help.js";
import { serviceFlagNames, serviceFlagUsage } from "./settings.js";

/** The flags the help names, from the lines that start one (`  --name   usage`). */
const flagsNamed = (help: string) =>
  help
    .split("\n")
    .filter((line) => line.startsWith("  --"))
    .map((line) => line.trim().split(" ")[0]);

describe("serviceHelp", () => {
  it("describes every flag a service and a web service read, none left without words", () => {
    expect(Object.keys(runtimeFlagUsage).toSorted()).toEqual(runtimeFlagNames.toSorted());
    expect(Object.keys(serviceFlagUsage).toSorted()).toEqual(serviceFlagNames.toSorted());
    for (const [flag, { usage }] of Object.entries(runtimeFlagUsage)) expect(usage.trim(), flag).not.toBe("");
  });

  it("names every flag once, each under the page that describes it, with its usage, default and variables", () => {
    const help = serviceHelp("user", runtimeFlagUsage);
    expect(flagsNamed(help).toSorted()).toEqual(runtimeFlagNames.map((flag) => `--${flag}`).toSorted());
    expect(help).toMatch(/^user: a tsmicro service\./);
    expect(help).toContain("TSMICRO_<NAME> and, as an alias, MICRO_<NAME>");
    expect(help).toContain(
      [
        "\nbroker (docs/broker.md):",
        "  --broker                    what carries events: http (embedded, no server), nats, or memory (one",
        "                              process) (default: http) [$TSMICRO_BROKER, $MICRO_BROKER]",
        "",
      ].join("\n"),
    );
    // Defaults as the code applies them, written as the flags take them.
    expect(help).toMatch(/--client_request_timeout +timeout of unary calls that set none \(default: 5s\)\n/);
    expect(help).toMatch(/--server_keepalive +.*\(default: 2h\)/);
    expect(help).toMatch(/--server_max_recv_msg_size +.*\n +.*\(default: 4MB\)/);
    expect(help).toMatch(/--load_shedding_cpu +.*\n +.*\(default: 90%\)/);
    expect(help).toContain("[$TSMICRO_DATABASE_URL, $MICRO_DATABASE_URL, $DATABASE_URL]");
  });

  it("keeps to 100 columns, the descriptions in one column and each group's variables on a line", () => {
    const help = serviceHelp("user", runtimeFlagUsage);
    const lines = help.split("\n");
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(100);
    const column = "  --client_keepalive_timeout  ".length;
    for (const line of lines.filter((line) => line.startsWith("  "))) {
      expect(line.slice(0, column).trimEnd().length, line).toBeLessThan(column - 1);
      expect(line[column], line).not.toBe(" ");
    }
    expect(help).toContain("\n                              [$TSMICRO_REGISTRY, $MICRO_REGISTRY]\n");
  });

  it("wraps a long description and keeps its column for a table of few flags (a web service's)", () => {
    const help = serviceHelp("site", {
      log_level: { usage: "word ".repeat(30).trim(), default: "info" },
    });
    expect(help.split("\n").slice(5)).toEqual([
      "  --log_level  word word word word word word word word word word word word word word word word word",
      "               word word word word word word word word word word word word word (default: info)",
      "               [$TSMICRO_LOG_LEVEL, $MICRO_LOG_LEVEL]",
      "",
    ]);
  });

  it("leaves out the concerns of flags a program does not read (a web service has no broker)", () => {
    expect(serviceHelp("site", serviceFlagUsage)).not.toContain("broker");
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
