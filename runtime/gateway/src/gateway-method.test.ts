import { FieldDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { goDuration, queryValue } from "./gateway-method.js";

describe("query and path values", () => {
  it.each([
    ["90m", "5400s"],
    ["1h30m", "5400s"],
    ["500ms", "0.5s"],
    ["1.5s", "1.5s"],
    ["5400s", "5400s"],
    ["-1.5h", "-5400s"],
    ["1h2m3.004005006s", "3723.004005006s"],
    ["300us", "0.0003s"],
    ["2µs", "0.000002s"],
    ["7ns", "0.000000007s"],
    [".5m", "30s"],
    ["0", "0s"],
  ])("read the Go duration %s as %s, as grpc-gateway does", (text, json) => {
    expect(goDuration(text)).toBe(json);
  });

  it.each(["", "1", "1d", "h", "1.5", "1h-30m", "s1", "1 h"])("leave %j to the decoder, which names it", (text) => {
    expect(goDuration(text)).toBeUndefined();
  });

  it("read booleans in every spelling of Go's strconv.ParseBool", () => {
    const field = FieldDescriptorProtoSchema.fields.find((f) => f.name === "proto3_optional")!;
    for (const text of ["1", "t", "T", "TRUE", "true", "True"]) expect(queryValue(field, text)).toBe(true);
    for (const text of ["0", "f", "F", "FALSE", "false", "False"]) expect(queryValue(field, text)).toBe(false);
    expect(queryValue(field, "yes")).toBe("yes");
  });
});
