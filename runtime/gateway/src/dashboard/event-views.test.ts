import type { Service } from "@tsmicro/runtime";
import { describe, expect, it } from "vitest";
import { eventViews } from "./event-views.js";

const version = (v: string, endpoints: Service["endpoints"]): Service => ({
  name: "mail",
  version: v,
  endpoints,
  nodes: [],
  metadata: {},
});
const userCreated = { name: "UserEvents.userCreated", request: "user.v1.UserCreated", response: "" };

describe("eventViews", () => {
  it("lists each event once across versions, subscriptions first, with their queue and broker; methods are left out", () => {
    const subscribed = {
      ...userCreated,
      metadata: {
        topic: "user.created",
        events: "user.v1.UserEvents",
        subscriber: "true",
        queue: "mail",
        broker: "nats",
      },
    };
    const everyNode = {
      ...userCreated,
      name: "AuditEvents.userCreated",
      metadata: { topic: "user.created", subscriber: "true", broker: "http" },
    };
    const published = {
      name: "MailEvents.mailSent",
      request: "mail.v1.MailSent",
      response: "",
      metadata: { topic: "mail.sent", publisher: "true" },
    };
    const method = {
      name: "Mail.Send",
      request: "mail.v1.SendRequest",
      response: "mail.v1.SendResponse",
      metadata: {},
    };
    const views = eventViews([version("1", [method, published, subscribed]), version("2", [subscribed, everyNode])]);
    expect(views).toEqual([
      {
        event: "UserEvents.userCreated",
        topic: "user.created",
        message: "user.v1.UserCreated",
        role: "subscribes",
        queue: "mail",
        broker: "nats",
      },
      {
        event: "AuditEvents.userCreated",
        topic: "user.created",
        message: "user.v1.UserCreated",
        role: "subscribes",
        queue: null,
        broker: "http",
      },
      {
        event: "MailEvents.mailSent",
        topic: "mail.sent",
        message: "mail.v1.MailSent",
        role: "publishes",
        queue: null,
        broker: null,
      },
    ]);
  });
});
