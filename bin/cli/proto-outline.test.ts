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
    const { declared, fields, extensions, enums } = outline(proto);
    expect(declared.map((d) => d.fullName)).toEqual(["acme.v1.Rule", "acme.v1.Rule.Kind", "acme.v1.Rule.Part"]);
    const rule = "acme.v1.Rule";
    expect(Object.fromEntries(fields)).toEqual({
      [rule]: [
        { name: "pattern", type: "string", scope: rule },
        { name: "max", type: "int32", scope: rule },
        { name: "min", type: "int32", scope: rule },
        { name: "labels", type: "map<string, string>", scope: rule },
      ],
      "acme.v1.Rule.Part": [{ name: "kinds", type: "Kind", scope: "acme.v1.Rule.Part" }],
    });
    expect(extensions).toEqual([
      { name: "rule", type: "Rule", scope: "acme.v1", fullName: "acme.v1.rule", file: "acme/v1/acme.proto" },
    ]);
    expect(Object.fromEntries(enums)).toEqual({ "acme.v1.Rule.Kind": ["KIND_UNSPECIFIED", "STRICT"] });
    expect([...importsOf(proto.text)]).toEqual(["google/protobuf/descriptor.proto"]);
  });
});
