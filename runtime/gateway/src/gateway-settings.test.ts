import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isSetupError } from "@tsmicro/runtime";
import { describe, expect, it } from "vitest";
import { loadGatewayConfig } from "./gateway-config.js";
import { resolveGatewaySettings } from "./gateway-settings.js";

/** The message `resolveGatewaySettings` refuses `args` and `env` with, checking it is a TSM_ERR_FLAG SetupError. */
function refusal(args: readonly string[], env: Record<string, string> = {}): string {
  try {
    resolveGatewaySettings({}, args, env);
  } catch (error) {
    if (isSetupError(error) && error.code === "TSM_ERR_FLAG") return error.message;
    throw error;
  }
  throw new Error(`${args.join(" ")} was not refused`);
}

describe("--cors_origins", () => {
  it("takes comma-separated origins, and * for any", () => {
    const origins = (value: string) => resolveGatewaySettings({}, [`--cors_origins=${value}`], {}).corsOrigins;
    expect(origins("https://shop.example, http://localhost:5173")).toEqual([
      "https://shop.example",
      "http://localhost:5173",
    ]);
    expect(origins("*")).toEqual(["*"]);
    expect(resolveGatewaySettings({}, [], { TSMICRO_CORS_ORIGINS: "https://shop.example" }).corsOrigins).toEqual([
      "https://shop.example",
    ]);
  });

  it("refuses what no browser sends as an Origin, naming the flag and the entry, with the fix", () => {
    // A browser sends https://shop.example: with the slash, every page of it would be refused, with nothing said.
    expect(refusal(["--cors_origins=https://shop.example/"])).toBe(
      '--cors_origins has an invalid value "https://shop.example/": "https://shop.example/" is not an origin (scheme://host[:port], no path); write "https://shop.example", or "*" for any',
    );
    expect(refusal(["--cors_origins", "https://shop.example,shop.example"])).toBe(
      '--cors_origins has an invalid value "https://shop.example,shop.example": "shop.example" is not an origin (scheme://host[:port], no path), or "*" for any',
    );
    expect(refusal([], { TSMICRO_CORS_ORIGINS: "http://localhost:5173/app" })).toBe(
      'TSMICRO_CORS_ORIGINS has an invalid value "http://localhost:5173/app": "http://localhost:5173/app" is not an origin (scheme://host[:port], no path); write "http://localhost:5173", or "*" for any',
    );
  });

  it("refuses the entries the config file's cors.origins refuses, saying the same of each", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-gateway-settings-"));
    try {
      for (const [i, entry] of [
        "https://shop.example/",
        "https://shop.example:443",
        "HTTPS://Shop.Example",
        "shop.example",
        "file:///tmp/page.html",
        "https://shop.example/*",
      ].entries()) {
        const path = join(dir, `gateway-${i}.json`);
        await writeFile(path, JSON.stringify({ cors: { origins: [entry] } }));
        const inFile = await loadGatewayConfig(path).then(
          () => "",
          (error: Error) => error.message,
        );
        const problem = inFile.slice(inFile.indexOf(": cors.origins[0] ") + ": cors.origins[0] ".length);
        expect(problem).toMatch(/^".*" is not an origin/);
        expect(refusal([`--cors_origins=${entry}`])).toBe(
          `--cors_origins has an invalid value ${JSON.stringify(entry)}: ${problem}`,
        );
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("--trust_proxy", () => {
  it("takes off, on, a number of proxies, or the proxies' addresses and ranges; a bad one is refused naming it", () => {
    const trust = (value: string) => resolveGatewaySettings({}, [`--trust_proxy=${value}`], {}).trustProxy;
    expect(resolveGatewaySettings({}, [], {}).trustProxy).toBe(false);
    expect(trust("off")).toBe(false);
    expect(trust("on")).toBe(true);
    expect(trust("2")).toBe(2);
    expect(trust("0")).toBe(false);
    expect(trust("10.0.0.5, 10.1.0.0/16,loopback,fd00::/8")).toEqual([
      "10.0.0.5",
      "10.1.0.0/16",
      "loopback",
      "fd00::/8",
    ]);
    expect(resolveGatewaySettings({}, [], { TSMICRO_TRUST_PROXY: "uniquelocal" }).trustProxy).toEqual(["uniquelocal"]);
    expect(refusal(["--trust_proxy=10.0.0.0/8,lb.internal"])).toBe(
      '--trust_proxy has an invalid value "10.0.0.0/8,lb.internal": "lb.internal" is no IP address or CIDR range; ' +
        "expected off, on (every proxy), a number of proxies in front (1: the load balancer alone), or the proxies' " +
        "addresses and ranges, comma-separated " +
        "(10.0.0.5,10.1.0.0/16; loopback, linklocal and uniquelocal name those ranges)",
    );
    expect(refusal(["--trust_proxy=10.0.0.0/33"])).toContain('"10.0.0.0/33" is no IP address or CIDR range');
  });
});

describe("--shutdown_delay", () => {
  it("is none by default, and takes a duration with its unit, from the flag or TSMICRO_SHUTDOWN_DELAY", () => {
    expect(resolveGatewaySettings({}, [], {}).shutdownDelayMs).toBe(0);
    expect(resolveGatewaySettings({}, ["--shutdown_delay=10s"], {}).shutdownDelayMs).toBe(10_000);
    expect(resolveGatewaySettings({}, [], { TSMICRO_SHUTDOWN_DELAY: "1500ms" }).shutdownDelayMs).toBe(1_500);
  });

  it("refuses a bare number, which would be read as seconds or milliseconds only by guess", () => {
    expect(refusal(["--shutdown_delay=10"])).toBe(
      '--shutdown_delay has an invalid value "10": expected a duration such as 500ms, 5s or 1m',
    );
  });
});
