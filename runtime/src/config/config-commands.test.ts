import { describe, expect, it } from "vitest";
import { configAddresses, configSet } from "./config-commands.js";

describe("configAddresses (tsmicro config's etcd endpoints)", () => {
  it("takes --registry_address, else the registry variables when the registry is etcd", () => {
    const env = { TSMICRO_REGISTRY_ADDRESS: "10.0.0.1:2379, 10.0.0.2:2379" };
    expect(configAddresses({ registryAddress: "127.0.0.1:2379" }, env)).toEqual(["127.0.0.1:2379"]);
    expect(configAddresses({}, env)).toEqual(["10.0.0.1:2379", "10.0.0.2:2379"]);
    expect(configAddresses({}, { MICRO_REGISTRY: "etcd", MICRO_REGISTRY_ADDRESS: "e:2379" })).toEqual(["e:2379"]);
    // A local registry's address is its folder, not etcd.
    expect(configAddresses({}, { TSMICRO_REGISTRY: "local", TSMICRO_REGISTRY_ADDRESS: "/tmp/reg" })).toEqual([]);
    // The registry unset is the local one, by default: a folder there is its, and etcd's default is used.
    for (const folder of ["/tmp/reg", "./reg", "~/reg", "reg/a"])
      expect(configAddresses({}, { TSMICRO_REGISTRY_ADDRESS: folder })).toEqual([]);
    expect(configAddresses({}, { TSMICRO_REGISTRY_ADDRESS: "http://e:2379" })).toEqual(["http://e:2379"]);
    expect(() => configAddresses({ registryAddress: "127.0.0.1:2379,127.0.0.1:65536" }, {})).toThrow(
      '--registry_address has an invalid value "127.0.0.1:65536": port 65536 is past 65535; such as 127.0.0.1:2379 or http://etcd-1:2379',
    );
    expect(() => configAddresses({}, { TSMICRO_REGISTRY_ADDRESS: "e:port" })).toThrow(
      'TSMICRO_REGISTRY_ADDRESS has an invalid value "e:port": use host:port',
    );
    expect(() => configAddresses({ registry: "local" }, {})).toThrow(
      '--registry has an invalid value "local": the config centre is in etcd; pass --registry etcd or leave it out',
    );
  });
});

describe("configSet (tsmicro config set)", () => {
  // A port nothing listens on: a value refused is refused before etcd is dialled.
  const nowhere = { addresses: ["127.0.0.1:1"], service: "user" };

  it.each([
    ["{bad", '1, column 2: expected a "quoted" property name, found "b"', "{", `'"{bad"'`],
    ['{"size":3', "1, column 10: the value ends where , or } after a property should be", "{", `'"{\\"size\\":3"'`],
    ["[1,2,]", "1, column 6: a comma before ]; JSON allows no trailing comma", "[", `'"[1,2,]"'`],
    ["\"it's", "1, column 6: this string is never closed", '"', `'"\\"it'\\''s"'`],
  ])(
    "refuses %s, which starts as JSON does but does not parse, saying where and how to store it as text",
    async (value, where, first, quoted) => {
      const refused = await configSet(nowhere, "page", value).catch((error: Error) => error);
      expect((refused as Error).message).toBe(
        `the value for page is not valid JSON at line ${where}; a value starting with ${first} is read as JSON. ` +
          `To store the text as a string, give it as a JSON string: ${quoted}`,
      );
    },
  );
});
