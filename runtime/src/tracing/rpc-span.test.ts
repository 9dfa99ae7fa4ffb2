import { describe, expect, it } from "vitest";
import { hostAndPort } from "./rpc-span.js";

describe("hostAndPort", () => {
  it.each([
    ["127.0.0.1:50051", { host: "127.0.0.1", port: 50051 }],
    ["[::1]:50051", { host: "::1", port: 50051 }],
    ["ipv4:127.0.0.1:53122", { host: "127.0.0.1", port: 53122 }],
    ["ipv6:[::1]:53122", { host: "::1", port: 53122 }],
    ["::1", { host: "::1", port: undefined }],
    ["unix:/tmp/grpc.sock", { host: "/tmp/grpc.sock", port: undefined }],
  ])("reads %s", (address, expected) => {
    expect(hostAndPort(address)).toEqual(expected);
  });
});
