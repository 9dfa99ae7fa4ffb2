import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

/** True when CI asked for every server and tool to be present (`TSMICRO_REQUIRE_SERVERS=1`). */
export const serversRequired = process.env.TSMICRO_REQUIRE_SERVERS === "1";

/**
 * Finds a program a suite needs. Missing: under TSMICRO_REQUIRE_SERVERS=1
 * that is a failure; otherwise the suite is skipped with one line naming
 * the Debian package to install.
 */
export function findProgram(program: string, debianPackage: string): string | undefined {
  const path = which(program);
  if (path) return path;
  const message = `${program} not found: install the Debian package ${debianPackage} (apt-get install ${debianPackage})`;
  if (serversRequired) throw new Error(`${message}; TSMICRO_REQUIRE_SERVERS=1 requires it`);
  console.log(`skipped: ${message}`);
  return undefined;
}

/** Like findProgram, for a file a Debian package installs. */
export function findFile(path: string, debianPackage: string): string | undefined {
  if (existsSync(path)) return path;
  const message = `${path} not found: install the Debian package ${debianPackage}`;
  if (serversRequired) throw new Error(`${message}; TSMICRO_REQUIRE_SERVERS=1 requires it`);
  console.log(`skipped: ${message}`);
  return undefined;
}

function which(program: string): string | undefined {
  try {
    return execFileSync("which", [program], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}
