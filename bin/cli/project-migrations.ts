import type { CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import type { ScaffoldFile } from "../../generator/scaffold/plan-sources.js";

/** A migration to write, and what the planner would not do by itself. */
export interface MigrationPlan {
  readonly files: readonly ScaffoldFile[];
  readonly warnings: readonly string[];
}

/** Placeholder until the entity schema planner lands: no migrations. */
export function planMigration(request: CodeGeneratorRequest, previous: string | undefined): MigrationPlan {
  void request;
  void previous;
  return { files: [], warnings: [] };
}
