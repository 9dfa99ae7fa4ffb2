import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ScaffoldFile } from "../../generator/scaffold/plan-sources.js";
import { packageRoot } from "./package-paths.js";

/** The monitoring files tsmicro ships (`observability/` of the package): Prometheus config, alerts, their tests, Grafana dashboard. */
export const shippedObservabilityDir = join(packageRoot, "observability");

/**
 * The shipped monitoring files as a new project's `observability/`, copied
 * as they are (they hold no project names: targets come from the registry),
 * so the package's copy is the one source and a project owns its own after.
 */
export async function observabilityFiles(): Promise<ScaffoldFile[]> {
  const names = (await readdir(shippedObservabilityDir, { withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => ({
      path: `observability/${name}`,
      content: await readFile(join(shippedObservabilityDir, name), "utf8"),
      why: "monitoring",
    })),
  );
}
