/**
 * `@tsmicro/runtime/errors`: the error types and their checks alone, for
 * tools (such as the tsmicro CLI's failure handler) that must tell a setup
 * error or a call's failure from a bug without loading the whole runtime.
 */
export { Code, codeName, isTsmicroError, TsmicroError, type TsmicroErrorOptions } from "./tsmicro-error.js";
export { isSetupError, SetupError } from "./setup-error.js";
export { closestName } from "./closest-name.js";
