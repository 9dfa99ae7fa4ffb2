import { describe, expect, it } from "vitest";
import { forwardedMetadata, forwardHeaders } from "./forwarded-metadata.js";

describe("forwardedMetadata", () => {
  it("forwards Grpc-Metadata-* without the prefix, Authorization and X-Request-Id, and appends the client to X-Forwarded-For", () => {
    const metadata = forwardedMetadata(
      {
        "grpc-metadata-x-trace": "t1",
        "grpc-metadata-blob-bin": "AQL+/w==",
        authorization: "Bearer x",
        "x-request-id": "r1",
        "x-forwarded-for": "10.0.0.1",
        cookie: "secret",
      },
      "127.0.0.1",
    );
    expect([...(metadata["blob-bin"] as Uint8Array)]).toEqual([1, 2, 254, 255]);
    expect({ ...metadata, "blob-bin": "bytes" }).toEqual({
      "x-trace": "t1",
      "blob-bin": "bytes",
      authorization: "Bearer x",
      "x-request-id": "r1",
      "x-forwarded-for": "10.0.0.1, 127.0.0.1",
    });
  });

  it("forwards a Grpc-Metadata-* header sent twice as two values, a value with a comma as one", () => {
    const metadata = forwardedMetadata(
      { "grpc-metadata-x-tag": "a, b", "grpc-metadata-x-note": "one, with a comma", authorization: "Bearer x, y" },
      "127.0.0.1",
      () => {},
      { headersDistinct: { "grpc-metadata-x-tag": ["a", "b"], "grpc-metadata-x-note": ["one, with a comma"] } },
    );
    expect(metadata).toMatchObject({
      "x-tag": ["a", "b"],
      "x-note": "one, with a comma",
      authorization: "Bearer x, y",
    });
  });

  it("drops keys HTTP/2 or gRPC reserve, claims, and keys gRPC cannot carry", () => {
    const headers = Object.fromEntries(
      [
        "connection",
        "te",
        "upgrade",
        "transfer-encoding",
        "content-length",
        "grpc-timeout",
        "x-jwt-sub",
        "x-jwt-sub-bin",
        "a#b",
        "",
      ].map((key) => [`grpc-metadata-${key}`, "1"]),
    );
    expect(forwardedMetadata(headers, "::1")).toEqual({ "x-forwarded-for": "::1" });
  });

  it("takes the keys it sets from headers only from those headers: a client cannot replace a verified Authorization", () => {
    const headers = {
      authorization: "Bearer verified",
      "grpc-metadata-authorization": "Bearer forged",
      "grpc-metadata-x-request-id": "forged",
      "grpc-metadata-x-forwarded-for": "10.0.0.1",
    };
    expect(forwardedMetadata(headers, "::1")).toEqual({ authorization: "Bearer verified", "x-forwarded-for": "::1" });
    // And in any order the headers come.
    const reversed = Object.fromEntries(Object.entries(headers).reverse());
    expect(forwardedMetadata(reversed, "::1")).toEqual({ authorization: "Bearer verified", "x-forwarded-for": "::1" });
  });

  it("drops a text value gRPC metadata cannot carry and names the header it dropped; refuses a -bin value that is not base64", () => {
    const dropped: string[] = [];
    const metadata = forwardedMetadata(
      {
        "grpc-metadata-x": "tab\there",
        "grpc-metadata-city": "Zürich",
        "grpc-metadata-ok": "fine",
        authorization: "Bearer é",
        "x-forwarded-for": "ünïcode",
      },
      "::1",
      (header) => dropped.push(header),
    );
    expect(metadata).toEqual({ ok: "fine", "x-forwarded-for": "::1" });
    expect(dropped).toEqual(["grpc-metadata-x", "grpc-metadata-city", "authorization", "x-forwarded-for"]);
    expect(() => forwardedMetadata({ "grpc-metadata-x-bin": "not base64!" }, "::1")).toThrow(/not base64/);
  });

  it("forwards the headers --forward_headers names, and grpc-gateway's permanent ones as grpcgateway-* with grpcgateway", () => {
    const headers = {
      "x-tenant-id": "acme",
      "x-tags": "a, b",
      "user-agent": "curl/8",
      cookie: "session=1",
      host: "api.example:8080",
      authorization: "Bearer x",
      "x-other": "not named",
    };
    const distinct = { headersDistinct: { "x-tags": ["a", "b"] } };
    const named = forwardHeaders("X-Tenant-Id, x-tags", "--forward_headers");
    expect(forwardedMetadata(headers, "::1", () => {}, distinct, named)).toEqual({
      "x-tenant-id": "acme",
      "x-tags": ["a", "b"],
      authorization: "Bearer x",
      "x-forwarded-for": "::1",
    });
    const grpcGateway = forwardHeaders("grpcgateway", "--forward_headers");
    expect(forwardedMetadata(headers, "::1", () => {}, distinct, grpcGateway)).toEqual({
      "grpcgateway-user-agent": "curl/8",
      "grpcgateway-cookie": "session=1",
      "grpcgateway-host": "api.example:8080",
      "grpcgateway-authorization": "Bearer x",
      authorization: "Bearer x",
      "x-forwarded-host": "api.example:8080",
      "x-forwarded-for": "::1",
    });
    // A proxy in front named the host the client asked for: that one goes on.
    expect(
      forwardedMetadata(
        { host: "10.0.0.5", "x-forwarded-host": "shop.example" },
        "::1",
        () => {},
        undefined,
        grpcGateway,
      ),
    ).toMatchObject({ "x-forwarded-host": "shop.example", "grpcgateway-host": "10.0.0.5" });
  });

  it("refuses a --forward_headers entry that is forwarded anyway, reserved, or no metadata key, saying why", () => {
    const refusal = (value: string) => {
      try {
        forwardHeaders(value, "--forward_headers");
      } catch (error) {
        return (error as Error).message;
      }
      return "accepted";
    };
    expect(refusal("x-tenant-id,User-Agent")).toBe(
      '--forward_headers has an invalid value "x-tenant-id,User-Agent": "User-Agent" is a header gRPC sets itself: --forward_headers=grpcgateway forwards it as grpcgateway-user-agent, as grpc-gateway does',
    );
    expect(refusal("te")).toMatch(/"te" is a header HTTP\/2 or gRPC keeps for itself/);
    expect(refusal("authorization")).toMatch(/"authorization" needs no flag: the gateway always forwards it/);
    expect(refusal("grpc-metadata-x")).toMatch(/needs no flag: every Grpc-Metadata-\* header is forwarded/);
    expect(refusal("x-jwt-sub")).toMatch(/only a verified token sets/);
    expect(refusal("tsmicro-failed-service")).toMatch(/tsmicro's processes set between themselves/);
    expect(refusal("x tenant")).toMatch(/is no header name gRPC metadata can carry/);
    expect(refusal(" grpcgateway , x-tenant-id ")).toBe("accepted");
  });
});
