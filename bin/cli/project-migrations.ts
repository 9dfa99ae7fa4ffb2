import type { CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import { entitySchema, type EntitySchema } from "../../generator/entity-schema.js";
import { type MigrationFile, planMigration as planSql, recordedSchema } from "../../generator/migration-plan.js";
import type { ScaffoldFile } from "../../generator/scaffold/plan-sources.js";

/** The migration files to write, and what the planner would not do by itself. */
export interface MigrationPlan {
  /** A new `migrations/NNNN_name.sql` and the updated `migrations/schema.json`; empty when nothing changed. */
  readonly files: readonly ScaffoldFile[];
  readonly warnings: readonly string[];
}

/** tsmicro's record of the schema its migrations create: it plans the next one against it. */
export const schemaFile = "migrations/schema.json";

/**
 * Plans the next migration of a scaffolded project: the entities' schema
 * now against `previous` (the text of `migrations/schema.json`, undefined
 * in a new project), numbered after the `existing` migration files (whose
 * SQL says which migration creates a table no longer an entity).
 * Old migrations are never edited: a change is always a new file.
 */
export function planMigration(
  request: CodeGeneratorRequest,
  previous: string | undefined,
  existing: readonly MigrationFile[] = [],
  owns: (protoFile: string) => boolean = () => true,
): MigrationPlan {
  const next = entitySchema({ protoFile: request.protoFile, fileToGenerate: request.fileToGenerate.filter(owns) });
  const before = previous === undefined ? undefined : (JSON.parse(previous) as { schema: EntitySchema }).schema;
  if (!before && next.tables.length === 0) return { files: [], warnings: [] };
  const plan = planSql(before, next, existing);
  const recorded = recordedSchema(before, next, existing);
  const record = {
    "x-generated-by": "tsmicro generate: the schema the migrations in this folder create; do not edit",
    schema: recorded,
  };
  const schema: ScaffoldFile = {
    path: schemaFile,
    content: `${JSON.stringify(record, null, 2)}\n`,
    why: "the schema record",
  };
  // A change tsmicro only warns about is recorded too, so the warning is given once, not on every run.
  if (plan.sql === "")
    return { files: JSON.stringify(before) === JSON.stringify(recorded) ? [] : [schema], warnings: plan.warnings };
  const number = Math.max(0, ...existing.map((file) => Number.parseInt(file.name, 10)).filter(Number.isFinite)) + 1;
  return {
    files: [
      {
        path: `migrations/${String(number).padStart(4, "0")}_${plan.name}.sql`,
        content: plan.sql.endsWith("\n") ? plan.sql : `${plan.sql}\n`,
        why: plan.name,
      },
      schema,
    ],
    warnings: plan.warnings,
  };
}
