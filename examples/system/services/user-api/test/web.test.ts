import { createMemoryRegistry, silentLogger } from "@tsmicro/runtime";
import { createWebService, type WebService } from "@tsmicro/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthErrors, type AuthServiceClient } from "../src/gen/auth/v1/auth.micro.js";
import { UserErrors, type UserServiceClient } from "../src/gen/user/v1/user.micro.js";
import { noToken } from "../src/login-breaker.js";
import { routes } from "../src/routes.js";

// The web service as main.ts builds it, on a real port (127.0.0.1) and an in-memory registry, in front of
// stand-ins for the user and auth services that know one user, micro / 123.
const registry = createMemoryRegistry();
const micro = { userId: "u-1", userName: "micro", createdTime: new Date("2026-01-02T03:04:05Z") };
let authDown = false;
const users: Partial<UserServiceClient> = {
  async checkPassword({ userName, pwd }) {
    if (userName !== "micro" || pwd !== "123") throw UserErrors.wrongPassword("wrong user name or password");
    return micro;
  },
  async getUser({ userId }) {
    if (userId !== micro.userId) throw UserErrors.userNotFound("no such user");
    return micro;
  },
  async register({ userName }) {
    if (userName === "micro") throw UserErrors.userNameTaken("the user name is taken");
    return { userId: "u-2", userName: userName ?? "", createdTime: new Date() };
  },
};
const auth: Partial<AuthServiceClient> = {
  // While auth is down the breaker's fallback answers, with no token.
  async makeAccessToken({ userId }) {
    return authDown ? noToken : { token: `token-of-${userId}`, expiresAt: new Date("2030-01-01T00:00:00Z") };
  },
  async validateToken({ token }) {
    if (token !== "token-of-u-1") throw AuthErrors.tokenInvalid("not a valid access token");
    return { userId: "u-1", userName: "micro", tokenId: "t-1", expiresAt: new Date("2030-01-01T00:00:00Z") };
  },
};
let web: WebService;

beforeAll(async () => {
  web = createWebService({ name: "api.micro.platform.web.user", registry, args: [], env: {}, logger: silentLogger() });
  const clients = { users: users as UserServiceClient, auth: auth as AuthServiceClient };
  await web.app.register(routes, { prefix: "/user", clients });
  await web.start();
});

afterAll(async () => {
  await web?.stop();
  await registry.stop();
});

const form = (body: string) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body,
});

describe("api.micro.platform.web.user", () => {
  it("registers as an HTTP node", async () => {
    const nodes = (await registry.getService("api.micro.platform.web.user")).flatMap((entry) => entry.nodes);
    expect(nodes.map((node) => node.metadata.protocol)).toEqual(["http"]);
  });

  it("logs in with the form body of the original curl, or JSON, and answers /user/me with the token", async () => {
    const response = await fetch(`http://${web.address}/user/login`, form("userName=micro&pwd=123"));
    expect(response.status).toBe(200);
    const login = (await response.json()) as { token: string };
    expect(login).toEqual({
      token: "token-of-u-1",
      expires_at: "2030-01-01T00:00:00.000Z",
      user: { user_id: "u-1", user_name: "micro" },
    });
    const json = await fetch(`http://${web.address}/user/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userName: "micro", pwd: "123" }),
    });
    expect(json.status).toBe(200);
    const me = await fetch(`http://${web.address}/user/me`, { headers: { authorization: `Bearer ${login.token}` } });
    expect(await me.json()).toEqual({ user_id: "u-1", user_name: "micro", created_time: "2026-01-02T03:04:05.000Z" });
  });

  it("answers 401 for a wrong password or token, 400 for a missing field, 409 for a taken name", async () => {
    expect((await fetch(`http://${web.address}/user/login`, form("userName=micro&pwd=124"))).status).toBe(401);
    expect((await fetch(`http://${web.address}/user/login`, form("userName=micro"))).status).toBe(400);
    const me = await fetch(`http://${web.address}/user/me`, { headers: { authorization: "Bearer forged" } });
    expect(me.status).toBe(401);
    expect((await fetch(`http://${web.address}/user/me`)).status).toBe(401);
    expect((await fetch(`http://${web.address}/user/register`, form("userName=micro&pwd=1234"))).status).toBe(409);
    const created = await fetch(`http://${web.address}/user/register`, form("userName=ann&pwd=1234"));
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ user_id: "u-2", user_name: "ann" });
  });

  it("answers 503 with Retry-After when the breaker's fallback stands in for auth", async () => {
    authDown = true;
    try {
      const response = await fetch(`http://${web.address}/user/login`, form("userName=micro&pwd=123"));
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("5");
      expect(await response.json()).toMatchObject({ fallback: true });
    } finally {
      authDown = false;
    }
  });
});
