import { execFile } from "node:child_process";
import { join } from "node:path";
import { repoRoot, type RunResult } from "./cli.js";

/**
 * Runs `redocly lint` with its recommended rules over OpenAPI documents. Telemetry and the update
 * check are off: tests reach nothing beyond the loopback. Exit code 0 means no errors (warnings,
 * such as a missing 4XX response or license, are printed but allowed).
 */
export function redoclyLint(files: readonly string[]): Promise<RunResult> {
  const bin = join(repoRoot, "node_modules/@redocly/cli/bin/cli.js");
  const env = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" };
  const args = [bin, "lint", "--extends", "recommended", "--format", "summary", ...files];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: repoRoot, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
