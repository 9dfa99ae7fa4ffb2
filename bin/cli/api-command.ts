import type { DescFile, FileRegistry, JsonObject } from "@bufbuild/protobuf";
import { createDashboard, createGateway, type Dashboard, type Gateway } from "@tsmicro/gateway";
import { buildOpenApi } from "../../generator/openapi.js";
import { version } from "./package-paths.js";

/**
 * `tsmicro api`: the HTTP gateway, as `micro api`. Flags are the gateway's
 * (`--address`, `--namespace`, `--prefix`, `--handler`, TLS, CORS, body
 * limit, `--strict_routes`, `--config`) and a service's registry and client
 * flags; the OpenAPI document at `/openapi.json` is built by the same code
 * as the generated `x.openapi.json`.
 */
export function apiCommand(args: readonly string[]): Gateway {
  return createGateway({ args, openApi: openApiOf, program: "tsmicro api" });
}

/** `tsmicro web`: the dashboard, serving the services' OpenAPI document as the gateway does. */
export function webCommand(args: readonly string[]): Dashboard {
  return createDashboard({ args, openApi: openApiOf, program: "tsmicro web" });
}

function openApiOf(file: DescFile, registry: FileRegistry, options: { useProtoNames: boolean }): JsonObject {
  return JSON.parse(buildOpenApi(file, file.proto, registry, version, options)) as JsonObject;
}
