import { describe, expect, it } from "vitest";
import { grpcTimeoutMs } from "./grpc-timeout.js";

describe("grpcTimeoutMs", () => {
  it.each([
    ["1H", 3_600_000],
    ["2M", 120_000],
    ["30S", 30_000],
    ["500m", 500],
    ["100u", 0.1],
    ["5000000n", 5],
    ["0S", 0],
    ["99999999m", 99_999_999],
  ])("reads %s as %d ms", (value, ms) => {
    expect(grpcTimeoutMs(value)).toBeCloseTo(ms, 9);
  });

  it.each(["", "5", "5 S", " 5S", "5sec", "1.5S", "+5S", "123456789S"])("refuses %j, naming it", (value) => {
    expect(() => grpcTimeoutMs(value)).toThrow(
      `the Grpc-Timeout header ${JSON.stringify(value)} is not a gRPC timeout`,
    );
  });
});
