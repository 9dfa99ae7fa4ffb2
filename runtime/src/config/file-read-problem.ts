import { messageOf } from "../transport/call-errors.js";

/**
 * Why a file could not be read, in words rather than Node's `ENOENT: no such file or
 * directory, open '…'`: it does not exist, is a folder, or this process may not read it.
 * Other failures keep their message.
 */
export function fileReadProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "the file does not exist";
  if (code === "EISDIR") return "it is a folder, not a file";
  if (code === "EACCES" || code === "EPERM") return "permission denied; let the service's user read it";
  return messageOf(error);
}
