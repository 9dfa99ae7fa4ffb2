import { describe, expect, it } from "vitest";
import { otherFieldNumbered } from "./proto-field-numbers.js";

const proto = `syntax = "proto3";
message User {
  string name = 1; // = 2; in a comment is no field
  string email = 2;
  message Address {
    string street = 3;
  }
  oneof contact {
    string phone = 3;
  }
  int32 age = 2;
  int32 floor = 3;
}
message Other { string x = 2; }
`;

describe("otherFieldNumbered", () => {
  it("names the message's other field with the number, with its line", () => {
    expect(otherFieldNumbered(proto, 11, "2")).toBe("email (line 4)");
  });

  it("counts the message's oneofs, not its nested messages", () => {
    expect(otherFieldNumbered(proto, 12, "3")).toBe("phone (line 9)");
  });

  it("finds nothing when no other field of the message has the number", () => {
    expect(otherFieldNumbered(proto, 12, "7")).toBeUndefined();
  });
});
