import { describe, expect, it } from "vitest";
import { envSource, envTree } from "./env-source.js";
import { serviceConfigSources } from "./service-sources.js";

describe("envSource", () => {
  it("maps APP_A__B to a.b, parts to camelCase, and reads JSON values as JSON, anything else as a string", () => {
    const tree = envTree(
      {
        APP_DATABASE__URL: "postgres://db/app",
        APP_DATABASE__POOL_SIZE: "20",
        APP_HTTP__READ_TIMEOUT: "5s",
        APP_DEBUG: "true",
        APP_TAGS: '["a","b"]',
        APP_ZIP: '"01234"',
        APP_API_VERSION: "1.10",
        APP_ACCOUNT: "12345678901234567890",
        APP_RATIO: "0.50",
        APP_EMPTY: "",
        APP_: "ignored: no key",
        APP_BROKEN____KEY: "ignored: an empty part",
        OTHER_URL: "not under the prefix",
      },
      "APP_",
    );
    expect(tree).toEqual({
      database: { url: "postgres://db/app", poolSize: 20 },
      http: { readTimeout: "5s" },
      debug: true,
      tags: ["a", "b"],
      zip: "01234",
      // Numbers as numbers (validation takes the text where the schema wants text), but one a number cannot hold.
      apiVersion: 1.1,
      account: "12345678901234567890",
      ratio: 0.5,
      empty: "",
    });
  });

  it("keeps snake_case keys when asked, as go-micro's env source", () => {
    expect(envTree({ APP_HTTP__READ_TIMEOUT: "5s" }, "APP_", "snake")).toEqual({ http: { read_timeout: "5s" } });
  });

  it("merges a nested variable over an object given whole, whatever their order", () => {
    const env = { APP_DATABASE__URL: "postgres://override", APP_DATABASE: '{"url":"postgres://whole","poolSize":3}' };
    expect(envTree(env, "APP_")).toEqual({ database: { url: "postgres://override", poolSize: 3 } });
  });

  it("names the variable that sets a key, for error messages", async () => {
    const source = envSource({ prefix: "APP_", env: { APP_HTTP__READ_TIMEOUT: "x" } });
    expect(source.name).toBe("env APP_*");
    expect(source.locate?.(["http", "readTimeout"])).toBe("env APP_HTTP__READ_TIMEOUT");
    expect(await source.read()).toEqual({ http: { readTimeout: "x" } });
  });

  it("reads a prefix given without its underscore as with it, and nothing that only starts with its letters", async () => {
    const source = envSource({ prefix: "APP", env: { APP_GREETING: "env", APPLE_COLOR: "red" } });
    expect(source.name).toBe("env APP_*");
    expect(await source.read()).toEqual({ greeting: "env" });
  });
});

describe("serviceConfigSources", () => {
  it("layers file < env <SERVICE>_ < etcd /micro/config/<service>/ in go-micro's order", () => {
    const sources = serviceConfigSources({
      service: "go.micro.srv.user",
      file: "config.yaml",
      etcdAddresses: ["127.0.0.1:2379"],
    });
    expect(sources.map((source) => source.name)).toEqual([
      "file config.yaml",
      "env GO_MICRO_SRV_USER_*",
      "etcd /micro/config/go.micro.srv.user/",
    ]);
    expect(serviceConfigSources({ service: "user" }).map((source) => source.name)).toEqual(["env USER_*"]);
  });
});
