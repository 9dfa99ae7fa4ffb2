import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { SetupError } from "@tsmicro/runtime/errors";
import { packageRoot } from "./package-paths.js";

/** Where a project gets tsmicro's packages: the registry (a release), or tarballs in its `vendor/` (a source checkout). */
export interface PackageSpecs {
  /** Spec of `tsmicro` (dev dependency). */
  readonly tsmicro: string;
  /** Spec of `@tsmicro/runtime` (dependency). */
  readonly runtime: string;
  /** Spec of `@tsmicro/gateway`: a dependency of web services, and of `tsmicro` (for `tsmicro api`). */
  readonly gateway: string;
  /** True when the specs point at `vendor/`. */
  readonly vendored: boolean;
}

/** True when tsmicro runs from its source checkout (the runtime workspace is beside it), not from an installed release. */
export function isSourceCheckout(): boolean {
  return (
    existsSync(join(packageRoot, "runtime", "package.json")) && existsSync(join(packageRoot, "tsconfig.build.json"))
  );
}

/**
 * From a source checkout nothing is published, so the three packages are packed
 * (`npm pack`) into the project's `vendor/` and the project depends on the
 * tarballs: it installs, builds and builds its image with no path outside
 * it. From a release, the project depends on the same released version.
 */
export async function vendorPackages(projectDir: string, version: string): Promise<PackageSpecs> {
  const vendor = join(projectDir, "vendor");
  if (!isSourceCheckout()) {
    const tarballs = installedFromTarballs(version);
    if (!tarballs) return { tsmicro: version, runtime: version, gateway: version, vendored: false };
    // A tsmicro installed from a project's vendor/ (a project made from a checkout): the same tarballs again.
    await mkdir(vendor, { recursive: true });
    for (const file of Object.values(tarballs)) await copyFile(file, join(vendor, basename(file)));
    const spec = (file: string) => `file:vendor/${basename(file)}`;
    return {
      tsmicro: spec(tarballs.tsmicro),
      runtime: spec(tarballs.runtime),
      gateway: spec(tarballs.gateway),
      vendored: true,
    };
  }
  await mkdir(vendor, { recursive: true });
  for (const dir of [
    join(packageRoot, "runtime", "dist"),
    join(packageRoot, "runtime", "gateway", "dist"),
    join(packageRoot, "dist"),
  ]) {
    if (!existsSync(dir))
      throw new SetupError(
        "TSM_ERR_PROJECT_STEP",
        "npm pack",
        packageRoot,
        "-",
        "run npm run build in the checkout first",
      );
  }
  const runtime = await pack(join(packageRoot, "runtime"), vendor);
  const gateway = await pack(join(packageRoot, "runtime", "gateway"), vendor);
  const tsmicro = await pack(packageRoot, vendor);
  return {
    tsmicro: `file:vendor/${tsmicro}`,
    runtime: `file:vendor/${runtime}`,
    gateway: `file:vendor/${gateway}`,
    vendored: true,
  };
}

/**
 * The tarballs this tsmicro was installed from, when it runs from a project
 * made from a source checkout (`<project>/node_modules/tsmicro`, the
 * packages in `<project>/vendor/`): nothing of this version is published.
 */
function installedFromTarballs(version: string): { tsmicro: string; runtime: string; gateway: string } | undefined {
  if (basename(dirname(packageRoot)) !== "node_modules") return undefined;
  const vendor = join(dirname(dirname(packageRoot)), "vendor");
  const tarballs = {
    tsmicro: join(vendor, `tsmicro-${version}.tgz`),
    runtime: join(vendor, `tsmicro-runtime-${version}.tgz`),
    gateway: join(vendor, `tsmicro-gateway-${version}.tgz`),
  };
  return Object.values(tarballs).every((file) => existsSync(file)) ? tarballs : undefined;
}

function pack(dir: string, destination: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "npm",
      ["pack", "--pack-destination", destination, "--silent", "--ignore-scripts"],
      { cwd: dir, env: { ...process.env, npm_config_loglevel: "error" } },
      (error, stdout, stderr) => {
        const file = stdout.trim().split("\n").at(-1)?.trim();
        if (error || !file) {
          const code = error && typeof error.code === "number" ? error.code : 1;
          reject(new SetupError("TSM_ERR_PROJECT_STEP", "npm pack", dir, code, stderr.trim() || "see npm's log"));
        } else resolve(file);
      },
    );
  });
}
