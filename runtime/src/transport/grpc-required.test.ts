import { describe, expect, it } from "vitest";
import { LegacyServiceDefinition } from "../../../test/golden/07-proto2/legacy.micro.js";
import { GetAccountRequest } from "../../../test/golden/07-proto2/legacy.js";
import { ProfilesDefinition } from "../../../test/golden/19-gateway-parity/parity.micro.js";
import { HealthDefinition } from "../gen/grpc/health/v1/health.micro.js";
import { Code } from "../errors/tsmicro-error.js";
import { requiredFieldChecks } from "./grpc-required.js";

describe("requiredFieldChecks", () => {
  it("has none for proto3 services, even when they embed descriptor.proto (proto2, with required fields)", () => {
    expect(requiredFieldChecks(ProfilesDefinition).size).toBe(0);
    expect(requiredFieldChecks(HealthDefinition).size).toBe(0);
  });

  it("checks a proto2 request of any kind: a missing field, nested or not, is INVALID_ARGUMENT; zero values pass", () => {
    const checks = requiredFieldChecks(LegacyServiceDefinition);
    const check = checks.get(LegacyServiceDefinition.methods.getAccount.path);
    // Every method's requests reach a required field, streamed ones included.
    expect([...checks.keys()]).toEqual(Object.values(LegacyServiceDefinition.methods).map((m) => m.path));
    expect(
      check?.(GetAccountRequest.encode({ id: "", scope: { level: 0, status: 0, token: new Uint8Array(0) } }).finish()),
    ).toBeUndefined();
    expect(check?.(Uint8Array.of())).toMatchObject({
      code: Code.INVALID_ARGUMENT,
      message: expect.stringMatching(/^the request lacks id /),
    });
    // id "a", then scope {level: 1} without status and token.
    const nested = check?.(Uint8Array.of(0x0a, 0x01, 0x61, 0x1a, 0x02, 0x08, 0x01));
    expect(nested?.message).toMatch(/^the request lacks scope\.status \(fixtures\.legacy\.Scope\.status\)/);
  });
});
