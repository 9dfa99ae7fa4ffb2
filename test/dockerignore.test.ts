import { describe, expect, it } from "vitest";
import { loadTemplates } from "../bin/cli/load-templates.js";
import { renderTemplate } from "../generator/templates.js";
import { dockerIgnored } from "./support/dockerfile.js";

// No Docker engine here: the .dockerignore files are read as Docker reads them (test/support/dockerfile.ts).

describe(".dockerignore", () => {
  it("at a workspace root, leaves out every service's data, dist and node_modules, and nothing its Dockerfiles copy", async () => {
    const templates = await loadTemplates();
    const ignored = dockerIgnored(renderTemplate(templates, "project/workspace/dockerignore.ejs", {}));
    // docker build -f services/order/Dockerfile . sends the whole workspace but these.
    for (const path of [
      "node_modules/.bin/tsmicro",
      "services/order/node_modules/kysely/package.json",
      "services/order/data/db/PG_VERSION",
      "services/order/dist/main.js",
      "data/db/PG_VERSION",
      ".git/HEAD",
      "services/order/npm-debug.log",
    ])
      expect(ignored(path), path).toBe(true);
    // What the service's Dockerfile copies, and the user's own folders called data or dist inside src.
    for (const path of [
      "package.json",
      "package-lock.json",
      "vendor/tsmicro-0.1.0.tgz",
      "services/order/package.json",
      "services/order/tsconfig.json",
      "services/order/tsconfig.build.json",
      "services/order/src/main.ts",
      "services/order/src/data/seed.ts",
      "services/order/src/dist/index.ts",
      "services/order/migrations/0001_create_order.sql",
      "proto/order/v1/order.proto",
    ])
      expect(ignored(path), path).toBe(false);
  });

  it("in a single project, leaves out its data, dist and node_modules, and not its sources", async () => {
    const templates = await loadTemplates();
    const ignored = dockerIgnored(renderTemplate(templates, "project/common/dockerignore.ejs", {}));
    for (const path of ["node_modules/kysely/package.json", "data/db/PG_VERSION", "dist/main.js", ".git/HEAD"])
      expect(ignored(path), path).toBe(true);
    for (const path of ["package.json", "src/main.ts", "src/data/seed.ts", "migrations/0001_create_user.sql"])
      expect(ignored(path), path).toBe(false);
  });
});
