import { Code, isTsmicroError } from "@tsmicro/runtime";
import type { WebService } from "@tsmicro/gateway";
import type { FastifyReply } from "fastify";
import { z } from "zod";
import { type AuthServiceClient, isTokenExpired, isTokenInvalid, isTokenRevoked } from "./gen/auth/v1/auth.micro.js";
import { isUserInvalid, isUserNameTaken, isWrongPassword, type UserServiceClient } from "./gen/user/v1/user.micro.js";

type App = WebService["app"];
type Reply = FastifyReply;

/** The services /user/… calls: typed clients from main.ts. */
export interface Clients {
  readonly users: UserServiceClient;
  readonly auth: AuthServiceClient;
}

/** A login or registration: form-encoded (`userName=micro&pwd=123`) or JSON. */
const credentials = z.object({
  userName: z.string().min(1, "is required"),
  pwd: z.string().min(1, "is required"),
});

/**
 * The user API, mounted under /user (the gateway forwards the path
 * unchanged): POST /user/login, POST /user/register, GET /user/me and
 * POST /user/logout (with `Authorization: Bearer <token>`).
 */
export async function routes(app: App, options: { readonly clients: Clients }): Promise<void> {
  const { users, auth } = options.clients;
  // The original API took HTML-form logins; fastify reads JSON itself.
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.post("/login", async (request, reply) => {
    const given = credentials.safeParse(request.body);
    if (!given.success) return badRequest(reply, given.error);
    try {
      const user = await users.checkPassword(given.data);
      const made = await auth.makeAccessToken({ userId: user.userId, userName: user.userName });
      // The breaker's fallback (auth down or failing) answers with no token.
      if (made.token === "") {
        return reply
          .code(503)
          .header("retry-after", "5")
          .send({ error: "logins are unavailable for now: the auth service is not answering", fallback: true });
      }
      return {
        token: made.token,
        expires_at: made.expiresAt?.toISOString(),
        user: { user_id: user.userId, user_name: user.userName },
      };
    } catch (error) {
      return failure(reply, error);
    }
  });

  app.post("/register", async (request, reply) => {
    const given = credentials.safeParse(request.body);
    if (!given.success) return badRequest(reply, given.error);
    try {
      const user = await users.register(given.data);
      return reply.code(201).send({ user_id: user.userId, user_name: user.userName });
    } catch (error) {
      return failure(reply, error);
    }
  });

  app.get("/me", async (request, reply) => {
    const token = bearerToken(request.headers.authorization);
    if (!token) return tokenMissing(reply);
    try {
      const claims = await auth.validateToken({ token });
      const user = await users.getUser({ userId: claims.userId });
      return { user_id: user.userId, user_name: user.userName, created_time: user.createdTime?.toISOString() };
    } catch (error) {
      return failure(reply, error);
    }
  });

  app.post("/logout", async (request, reply) => {
    const token = bearerToken(request.headers.authorization);
    if (!token) return tokenMissing(reply);
    try {
      await auth.revokeToken({ token });
      return reply.code(204).send();
    } catch (error) {
      return failure(reply, error);
    }
  });

  app.get("/health", async () => ({ status: "SERVING" }));
}

/** The 401 of a request without `Authorization: Bearer <token>`. */
function tokenMissing(reply: Reply): Reply {
  return reply.code(401).send({ error: "send Authorization: Bearer <token> from POST /user/login" });
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer (\S+)$/i.exec(header ?? "");
  return match?.[1];
}

function badRequest(reply: Reply, error: z.ZodError): Reply {
  const [issue] = error.issues;
  return reply.code(400).send({ error: issue ? `${issue.path.join(".")} ${issue.message}` : "bad request" });
}

/** The services' typed errors as HTTP answers; anything else is fastify's 500, logged with the trace id. */
function failure(reply: Reply, error: unknown): Reply {
  if (isWrongPassword(error)) return reply.code(401).send({ error: "wrong user name or password" });
  if (isTokenInvalid(error) || isTokenExpired(error) || isTokenRevoked(error))
    return reply.code(401).send({ error: error.message });
  if (isUserNameTaken(error)) return reply.code(409).send({ error: error.message });
  if (isUserInvalid(error)) return reply.code(400).send({ error: error.message });
  if (isTsmicroError(error) && error.code === Code.UNAVAILABLE)
    return reply.code(503).header("retry-after", "5").send({ error: error.message });
  throw error;
}
