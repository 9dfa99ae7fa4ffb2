import type { ConfigServiceHandler } from "../../gen/config/v1/config.micro.js";
import type { Dependencies } from "../dependencies.js";
import { settingsAt } from "../settings-at.js";

/** rpc config.v1.ConfigService/Read: the settings under a path, as they are now. */
export function read(deps: Dependencies): ConfigServiceHandler["read"] {
  return async (request) => ({ path: request.path, value: settingsAt(deps.settings.get(), request.path) });
}
