import type { ConfigServiceHandler } from "../gen/config/v1/config.micro.js";
import type { Dependencies } from "./dependencies.js";
import { read } from "./config-service/read.js";
import { watch } from "./config-service/watch.js";

/**
 * The ConfigService handler: one function per rpc, each in its own file in
 * src/handler/config-service/. When the proto gains an rpc, `npm run generate`
 * writes its file there and the type checker asks for it here.
 */
export function createConfigServiceHandler(deps: Dependencies): ConfigServiceHandler {
  return {
    read: read(deps),
    watch: watch(deps),
  };
}
