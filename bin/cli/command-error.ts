/** A command failed because of what the user asked for; printed without a stack, exit status 1. */
export class CommandError extends Error {
  override readonly name = "CommandError";
}
