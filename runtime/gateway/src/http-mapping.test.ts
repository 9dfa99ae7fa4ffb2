import { create, createFileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { gatewayMethods } from "./gateway-method.js";
import { requestMessage } from "./http-mapping.js";

// counter.v1.Counter.Count(CountRequest { int32 n = 1; string label = 2; int32 step = 3; int64 total = 4; }), bound to GET /v1/counts/{n}.
const files = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "counter.proto",
    package: "counter.v1",
    syntax: "proto3",
    messageType: [
      {
        name: "CountRequest",
        field: [
          { name: "n", jsonName: "n", number: 1, type: 5, label: 1 },
          { name: "label", jsonName: "label", number: 2, type: 9, label: 1 },
          { name: "step", jsonName: "step", number: 3, type: 5, label: 1 },
          { name: "total", jsonName: "total", number: 4, type: 3, label: 1 },
        ],
      },
    ],
    service: [
      {
        name: "Counter",
        method: [{ name: "Count", inputType: ".counter.v1.CountRequest", outputType: ".counter.v1.CountRequest" }],
      },
    ],
  }),
  () => undefined,
);
const [count] = gatewayMethods("counter", "counter.v1.Counter", files);
const rule = { method: "GET", path: "/v1/counts/{n}" };

describe("a request that does not decode", () => {
  it("names the path variable at fault as the user wrote it, not the JSON the gateway built", () => {
    expect(() => requestMessage(count!, rule, { variables: { n: "abc" }, query: "label=x", body: undefined })).toThrow(
      'path variable n: "abc" is not a valid int32',
    );
  });

  it("names the query parameter when the path variables decode", () => {
    expect(() => requestMessage(count!, rule, { variables: { n: "3" }, query: "step=x", body: undefined })).toThrow(
      'query parameter step: "x" is not a valid int32',
    );
  });
});

describe("a number in a string in the body", () => {
  it("reads a whole int64 written with an exponent as protojson does, the body a field's or the whole request's", () => {
    const posted = (body: unknown, bodyField: string) =>
      requestMessage(
        count!,
        { method: "POST", path: "/v1/counts/{n}", body: bodyField },
        {
          variables: { n: "1" },
          query: "",
          body,
        },
      ) as unknown as { total: bigint };
    expect(posted({ total: "1e3" }, "*").total).toBe(1000n);
    // The body is the int64 field itself: a string at the top, rewritten where the request reads it.
    expect(posted("1e3", "total").total).toBe(1000n);
    expect(posted("12.0", "total").total).toBe(12n);
  });
});
