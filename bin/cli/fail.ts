import { codeName, isSetupError, isTsmicroError } from "@tsmicro/runtime/errors";
import { CommandError } from "./command-error.js";

/**
 * The yargs failure handler of tsmicro's commands: usage errors, setup
 * errors, command errors and failed calls print one line and exit 1;
 * anything else is a bug and keeps its stack.
 */
export function failCommand(program: string) {
  return (message: string | undefined, error: Error | undefined): never => {
    if (error && !isSetupError(error) && !(error instanceof CommandError) && !isTsmicroError(error)) throw error;
    const text = !error
      ? message
      : isTsmicroError(error)
        ? `call failed: ${codeName(error.code)}: ${error.message}`
        : error.message;
    process.stderr.write(`${program}: ${text}\n`);
    process.exit(1);
  };
}
