import { Code, TsmicroError } from "@tsmicro/runtime";
import { errorReasonDetail } from "@tsmicro/runtime/internal";
import { describe, expect, it } from "vitest";
import { describeFailure, failureReason } from "./call-failure.js";

describe("failureReason", () => {
  it.each([
    [
      "a dead node",
      Code.UNAVAILABLE,
      "No connection established. Last error: connect ECONNREFUSED 127.0.0.1:40123 (2026-12-02T11:00:00.000Z). Resolution note: ",
      "connection refused at 127.0.0.1:40123: nothing listens there (the node may have died without deregistering)",
    ],
    [
      "a reset connection",
      Code.UNAVAILABLE,
      "read ECONNRESET 10.0.0.7:50051",
      "the connection to 10.0.0.7:50051 was reset (the node may have crashed or restarted)",
    ],
    [
      "a dropped connection",
      Code.UNAVAILABLE,
      "Connection dropped",
      "the connection to 127.0.0.1:9 broke off before the call finished (the node may have crashed or restarted)",
    ],
    [
      "a deadline",
      Code.DEADLINE_EXCEEDED,
      "Deadline exceeded after 0.301s,LB pick: 0.001s,remote_addr=127.0.0.1:37433",
      "no answer from 127.0.0.1:37433 within 300 ms (--client_request_timeout)",
    ],
    [
      "a deadline the server saw pass first",
      Code.DEADLINE_EXCEEDED,
      "deadline exceeded serving /fixtures.services.v1.Alpha/Unary",
      "no answer from 127.0.0.1:9 within 300 ms (--client_request_timeout)",
    ],
    [
      "a deadline that ran out before the call reached a node",
      Code.DEADLINE_EXCEEDED,
      "Deadline exceeded",
      "no answer from 127.0.0.1:9 within 300 ms (--client_request_timeout)",
    ],
  ])("words %s as a sentence", (_, code, raw, sentence) => {
    expect(failureReason(new TsmicroError(code, raw), "127.0.0.1:9", 300)).toBe(sentence);
  });

  it("keeps a service's own message", () => {
    const error = new TsmicroError(Code.UNAVAILABLE, "the database is down for maintenance");
    expect(failureReason(error, "127.0.0.1:9")).toBe("the database is down for maintenance");
  });
});

describe("describeFailure", () => {
  it("keeps the code and puts what failed first", () => {
    const raw = new TsmicroError(
      Code.UNAVAILABLE,
      "No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1",
    );
    const described = describeFailure(raw, "echo Alpha.Unary", "echo") as TsmicroError;
    expect(described.code).toBe(Code.UNAVAILABLE);
    expect(described.message).toBe(
      "echo Alpha.Unary: connection refused at 127.0.0.1:1: nothing listens there (the node may have died without deregistering)",
    );
  });

  it("names a typed error's reason and metadata, as an HTTP client reads them in the body", () => {
    const typed = new TsmicroError(Code.NOT_FOUND, "echo Alpha.Unary: no user has id nope", {
      details: [errorReasonDetail("USER_NOT_FOUND", "user.v1.UserErrorReason", { field: "id" })],
    });
    expect((describeFailure(typed, "echo Alpha.Unary", "echo") as TsmicroError).message).toBe(
      "echo Alpha.Unary: no user has id nope (reason USER_NOT_FOUND, field=id)",
    );
  });

  it("keeps the message of a failure the service passed on from a call of its own, and words its own", () => {
    const passedOn = new TsmicroError(
      Code.DEADLINE_EXCEEDED,
      "Deadline exceeded: /user.v1.Users/Get got no answer in time",
      { metadata: { "tsmicro-failed-service": "user" } },
    );
    expect((describeFailure(passedOn, "order Orders.Get", "order", 5_000) as TsmicroError).message).toBe(
      "order Orders.Get: Deadline exceeded: /user.v1.Users/Get got no answer in time",
    );
    const worded = new TsmicroError(
      Code.DEADLINE_EXCEEDED,
      "no answer from user within 5000 ms (--client_request_timeout)",
      {
        metadata: { "tsmicro-failed-service": "user" },
      },
    );
    expect((describeFailure(worded, "order Orders.Get", "order", 5_000) as TsmicroError).message).toBe(
      "order Orders.Get: no answer from user within 5000 ms (--client_request_timeout)",
    );
    const own = new TsmicroError(Code.DEADLINE_EXCEEDED, "Deadline exceeded", {
      metadata: { "tsmicro-failed-service": "order" },
    });
    expect((describeFailure(own, "order Orders.Get", "order", 5_000) as TsmicroError).message).toBe(
      "order Orders.Get: no answer from the node within 5000 ms (--client_request_timeout)",
    );
  });

  it("passes anything not a TsmicroError through", () => {
    const error = new Error("bug");
    expect(describeFailure(error, "echo Alpha.Unary", "echo")).toBe(error);
  });
});
