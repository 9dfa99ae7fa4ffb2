import { describe, expect, it } from "vitest";
import { gatewayClaims } from "./gateway-claims.js";

describe("gatewayClaims", () => {
  it("reads the claims and subject a gateway forwarded", () => {
    const claims = { sub: "ada", role: "admin", name: "Zo\u00eb" };
    const metadata = { "x-jwt-sub": "ada", "x-jwt-claims": JSON.stringify(claims).replace("\u00eb", "\\u00eb") };
    expect(gatewayClaims({ metadata })).toEqual({ subject: "ada", claims });
  });

  it("is undefined for a call without verified claims, or with claims that are not a JSON object", () => {
    expect(gatewayClaims({ metadata: {} })).toBeUndefined();
    // x-jwt-sub alone is not a verified token's claims.
    expect(gatewayClaims({ metadata: { "x-jwt-sub": "ada" } })).toBeUndefined();
    for (const text of ["{", "[]", "null", '"ada"'])
      expect(gatewayClaims({ metadata: { "x-jwt-claims": text } }), text).toBeUndefined();
    expect(gatewayClaims({ metadata: { "x-jwt-claims": new Uint8Array([123, 125]) } })).toBeUndefined();
  });

  it("has no subject when the token has no string sub", () => {
    expect(gatewayClaims({ metadata: { "x-jwt-claims": '{"sub":7}' } })).toEqual({
      subject: undefined,
      claims: { sub: 7 },
    });
  });
});
