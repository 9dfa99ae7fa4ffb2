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
      ? usageHint(program, message ?? "")
      : isTsmicroError(error)
        ? `call failed: ${codeName(error.code)}: ${error.message}`
        : error.message;
    process.stderr.write(`${program}: ${text}\n`);
    process.exit(1);
  };
}

/** A usage error with where to read the usage (the command's own help when the command was named), or the command meant. */
function usageHint(program: string, message: string): string {
  const words = process.argv.slice(2).filter((arg) => !arg.startsWith("-"));
  // yargs' recommendCommands says only "Did you mean list?".
  if (message.startsWith("Did you mean")) return `unknown command ${words[0]}: d${message.slice(1)}`;
  if (!/^(Not enough non-option arguments|Missing required argument)/.test(message)) return message;
  // `list services` and `get service` are two-word commands.
  const command = words.slice(0, ["list", "get"].includes(words[0] ?? "") ? 2 : 1).join(" ");
  return `${message}; see ${program}${command && program === "tsmicro" ? ` ${command}` : ""} --help`;
}
