/**
 * api.micro.platform.web.user: the user API, a web service. It registers
 * like go-micro's web services, so `tsmicro api --handler web
 * --api_namespace api.micro.platform.web` proxies /user/… to it. It calls the
 * user and auth services through typed clients on the same registry flags.
 */
import { connect } from "@tsmicro/runtime";
import { createWebService } from "@tsmicro/gateway";
import { AuthServiceDefinition } from "./gen/auth/v1/auth.micro.js";
import { UserServiceDefinition } from "./gen/user/v1/user.micro.js";
import { loginBreaker } from "./login-breaker.js";
import { routes } from "./routes.js";

const name = "api.micro.platform.web.user";
const web = createWebService({ name, version: "0.1.0" });
// Its calls carry its name in traces, and log through its logger (breaker changes among them).
const mesh = connect({ name, logger: web.logger, breaker: loginBreaker });
const clients = {
  users: mesh.client(UserServiceDefinition, "user"),
  auth: mesh.client(AuthServiceDefinition, "auth"),
};
await web.app.register(routes, { prefix: "/user", clients });
await web.run(); // listen, register, heartbeat; on SIGTERM or SIGINT: deregister, drain, stop
await mesh.stop();
