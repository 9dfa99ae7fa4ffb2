import { describe, expect, it } from "vitest";
import { code, importsOf, outline } from "./proto-outline.js";

describe("a proto's outline, read from its text", () => {
  it("drops comments but keeps strings whole, `//` and `/*` inside them included", () => {
    const text = [
      'string href = 1 [json_name = "http://x"]; // a comment',
      'option (google.api.http) = {get: "/v1/{name=shops/*}"}; /* a',
      "comment */ message Shop {}",
      'get: "/v1/{name=shops/*/books/*}"',
    ].join("\n");
    expect(code(text)).toBe(
      [
        'string href = 1 [json_name = "http://x"];  ',
        'option (google.api.http) = {get: "/v1/{name=shops/*}"};   message Shop {}',
        'get: "/v1/{name=shops/*/books/*}"',
      ].join("\n"),
    );
  });

  it("names messages, enums, fields (oneof members too), options of extend blocks and enum values", () => {
    const proto = {
      path: "acme/v1/acme.proto",
      text: [
        'syntax = "proto3";',
        "package acme.v1;",
        'import "google/protobuf/descriptor.proto"; // import "commented/out.proto";',
        "extend google.protobuf.FieldOptions { Rule rule = 50001; }",
        "message Rule {",
        '  string pattern = 1 [json_name = "a{"];',
        "  oneof limit { int32 max = 2; int32 min = 3; }",
        "  map<string, string> labels = 4;",
        "  enum Kind { KIND_UNSPECIFIED = 0; STRICT = 1; }",
        "  message Part { repeated Kind kinds = 1; }",
        "  option deprecated = true;",
        "}",
      ].join("\n"),
    };
    const { declared, fields, extensions, enumValues } = outline(proto);
    expect(declared.map((d) => d.fullName)).toEqual(["acme.v1.Rule", "acme.v1.Rule.Kind", "acme.v1.Rule.Part"]);
    expect(Object.fromEntries(fields)).toEqual({
      "acme.v1.Rule": ["pattern", "max", "min", "labels"],
      "acme.v1.Rule.Part": ["kinds"],
    });
    expect(extensions).toEqual([{ fullName: "acme.v1.rule", file: "acme/v1/acme.proto" }]);
    expect(enumValues).toEqual(["KIND_UNSPECIFIED", "STRICT"]);
    expect([...importsOf(proto.text)]).toEqual(["google/protobuf/descriptor.proto"]);
  });
});
