import { describe, expect, it } from "vitest";
import { redactedLine } from "./fail.js";

describe("redactedLine", () => {
  it("redacts a password in a URL, and one given on the command line wherever the line quotes it after its user", () => {
    const given = ["config", "get", "--registry_address=http://app:hunter2@127.0.0.1:1"];
    expect(
      redactedLine(
        "the etcd config source at http://app:hunter2@127.0.0.1:1 cannot be reached (the name app:hunter2@127.0.0.1 does not resolve)",
        given,
      ),
    ).toBe(
      "the etcd config source at http://app:[redacted]@127.0.0.1:1 cannot be reached (the name app:[redacted]@127.0.0.1 does not resolve)",
    );
  });

  it("leaves a line that quotes no password as it is", () => {
    expect(
      redactedLine("unknown command bogus; see tsmicro --help", ["bogus", "--registry_address=http://etcd:2379"]),
    ).toBe("unknown command bogus; see tsmicro --help");
  });
});
