import { createHash } from "node:crypto";
import type { CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import { entitySchema, type EntitySchema } from "../../generator/entity-schema.js";
import {
  differsInIndexesOnly,
  holdingEitherWay,
  type MigrationFile,
  pendingChanges,
  planMigration as planSql,
  recordedSchema,
} from "../../generator/migration-plan.js";
import type { ScaffoldFile } from "../../generator/scaffold/plan-sources.js";

/** The migration files to write, and what the planner would not do by itself. */
export interface MigrationPlan {
  /** A new `migrations/NNNN_name.sql` and the updated `migrations/schema.json`; empty when nothing changed. */
  readonly files: readonly ScaffoldFile[];
  /** Migrations tsmicro wrote, taken back (see planMigration): their new content, which does nothing. */
  readonly takenBack: readonly ScaffoldFile[];
  /** What it did or found about the migrations it wrote, besides files: one line each. */
  readonly notes: readonly string[];
  /** Changes the new migration leaves out, for a migration of the user's own: one line each. */
  readonly warnings: readonly string[];
  /** What may fail when a database applies the new migration, with the edit to make first: one line each. */
  readonly risks: readonly string[];
  /** Renames and type changes warned about by an earlier run that no migration makes yet: one line each. */
  readonly pending: readonly string[];
}

/** tsmicro's record of the schema its migrations create: it plans the next one against it. */
export const schemaFile = "migrations/schema.json";

/** A migration tsmicro wrote, with its hash (to tell whether it was edited) and the schema before it. */
interface WrittenMigration {
  readonly file: string;
  readonly sha256: string;
  readonly before: EntitySchema;
}

/** `migrations/schema.json`: the schema the migrations make, and the newest migrations tsmicro wrote. */
interface SchemaRecord {
  readonly schema: EntitySchema;
  readonly written?: readonly WrittenMigration[];
}

/** How many of the newest migrations a change may still undo: each keeps a copy of the schema before it. */
const undoable = 5;

const nothing: MigrationPlan = { files: [], takenBack: [], notes: [], warnings: [], risks: [], pending: [] };

/**
 * Plans the next migration of a scaffolded project: the entities' schema
 * now against `previous` (the text of `migrations/schema.json`, undefined
 * in a new project), numbered after the `existing` migration files (whose
 * SQL says which migration creates a table no longer an entity).
 * A change is always a new file, but for one case: a change that takes the
 * schema back to what it was before the newest migrations tsmicro wrote,
 * which nobody edited (see undoneMigrations).
 */
export function planMigration(
  request: CodeGeneratorRequest,
  previous: string | undefined,
  existing: readonly MigrationFile[] = [],
  owns: (protoFile: string) => boolean = () => true,
): MigrationPlan {
  const next = entitySchema({ protoFile: request.protoFile, fileToGenerate: request.fileToGenerate.filter(owns) });
  const record = previous === undefined ? undefined : (JSON.parse(previous) as SchemaRecord);
  if (!record && next.tables.length === 0) return nothing;
  const deleted = record && deletedMigrations(record, next, existing);
  if (deleted) return forget(record, deleted, existing);
  const undone = record && undoneMigrations(record, next, existing);
  const before = record?.schema;
  const plan = planSql(before, next, existing);
  const takeBack = record && undone && plan.sql !== "" && differsInIndexesOnly(record.schema, undone[0]!.before);
  const sql = takeBack ? holdingEitherWay(plan.sql) : plan.sql;
  const recorded = recordedSchema(before, next, existing);
  const kept = (record?.written ?? []).filter((w) => existing.some((e) => e.name === w.file));
  const written = takeBack ? kept.slice(0, -undone.length) : kept;
  const files: ScaffoldFile[] = [];
  if (sql !== "") {
    const number = Math.max(0, ...existing.map((file) => Number.parseInt(file.name, 10)).filter(Number.isFinite)) + 1;
    const path = `migrations/${String(number).padStart(4, "0")}_${plan.name}.sql`;
    const content = sql.endsWith("\n") ? sql : `${sql}\n`;
    if (before && !takeBack) written.push({ file: path.slice("migrations/".length), sha256: sha256(content), before });
    files.push({ path, content, why: plan.name });
  }
  const content = recordText({ schema: recorded, written: written.slice(-undoable) });
  // A change tsmicro only warns about is recorded too, so the warning is given once; pending says it again until a migration makes it.
  // Compared as JSON: a record reformatted (CRLF in a Windows checkout, say) is not a change.
  const changed =
    previous === undefined || JSON.stringify(JSON.parse(previous)) !== JSON.stringify(JSON.parse(content));
  if (changed) files.push({ path: schemaFile, content, why: "the schema record" });
  const undoneNote = undone && plan.sql === "" && changed ? [deleteIfUnapplied(undone)] : [];
  return {
    files,
    takenBack: takeBack ? undone.map((w) => takenBack(w, files[0]!.path, existing)) : [],
    notes: takeBack ? [takenBackNote(undone, files[0]!.path)] : undoneNote,
    warnings: plan.warnings,
    risks: plan.risks,
    pending: before ? pendingChanges(before, recorded, existing) : [],
  };
}

/**
 * The newest migrations a change to `next` undoes, oldest first: the fewest of those tsmicro
 * wrote last (no other file after them, their hashes still matching: nobody edited them) after
 * which the schema is `next` again, with nothing else to plan or warn about.
 */
function undoneMigrations(
  record: SchemaRecord,
  next: EntitySchema,
  existing: readonly MigrationFile[],
): readonly WrittenMigration[] | undefined {
  const written = record.written ?? [];
  const files = [...existing].sort((a, b) => a.name.localeCompare(b.name));
  for (let from = written.length - 1; from >= 0; from--) {
    const chain = written.slice(from);
    const newest = files.slice(files.length - chain.length);
    if (!chain.every((w, i) => newest[i]?.name === w.file && sha256(newest[i].sql) === w.sha256)) return undefined;
    if (restores(chain[0]!.before, next, files.slice(0, files.length - chain.length))) return chain;
  }
  return undefined;
}

/**
 * The newest migrations tsmicro wrote that the change undid and the user then deleted (as the
 * note of deleteIfUnapplied says to, when no database applied them): all gone, and the schema is
 * the one before them again.
 */
function deletedMigrations(
  record: SchemaRecord,
  next: EntitySchema,
  existing: readonly MigrationFile[],
): readonly WrittenMigration[] | undefined {
  const written = record.written ?? [];
  const gone = (w: WrittenMigration) => !existing.some((e) => e.name === w.file);
  let from = written.length;
  while (from > 0 && gone(written[from - 1]!)) from--;
  const chain = written.slice(from);
  // A file after them would be planned on their schema: it is not theirs to forget then.
  const after = existing.some((e) => chain.some((w) => e.name.localeCompare(w.file) > 0));
  return chain.length > 0 && !after && restores(chain[0]!.before, next, existing) ? chain : undefined;
}

/** True when the schema was `before`, and planning `next` from it would write, warn and record nothing. */
function restores(before: EntitySchema, next: EntitySchema, older: readonly MigrationFile[]): boolean {
  const plan = planSql(before, next, older);
  const same = JSON.stringify(recordedSchema(before, next, older)) === JSON.stringify(before);
  return same && plan.sql === "" && plan.warnings.length === 0;
}

/** Records the schema before the deleted migrations, as if they had never been written. */
function forget(
  record: SchemaRecord,
  chain: readonly WrittenMigration[],
  existing: readonly MigrationFile[],
): MigrationPlan {
  const written = (record.written ?? []).slice(0, -chain.length);
  const before = chain[0]!.before;
  const names = chain.map((w) => `migrations/${w.file}`).join(", ");
  return {
    files: [{ path: schemaFile, content: recordText({ schema: before, written }), why: "the schema record" }],
    takenBack: [],
    notes: [`${names} deleted: ${schemaFile} no longer counts what ${chain.length === 1 ? "it" : "they"} made`],
    warnings: [],
    risks: [],
    pending: pendingChanges(record.schema, before, existing),
  };
}

/**
 * A migration's new content once taken back: nothing to run, and why, with what it read. A
 * database that applied it keeps that (migrations are not applied twice), and the migration
 * written with it undoes it there; one that did not (its start failed on it, say) skips both.
 */
function takenBack(w: WrittenMigration, undoing: string, existing: readonly MigrationFile[]): ScaffoldFile {
  const sql = existing.find((e) => e.name === w.file)!.sql;
  const was = sql
    .replace(/\r\n/g, "\n")
    .trimEnd()
    .split("\n")
    .map((line) => `--   ${line}`)
    .join("\n");
  return {
    path: `migrations/${w.file}`,
    content:
      "-- Taken back by tsmicro generate: the protos undid this change. It does nothing now;\n" +
      `-- ${undoing} undoes it on a database that applied it, and does nothing on one that did not.\n` +
      `-- It read:\n${was}\n`,
    why: "taken back",
  };
}

function takenBackNote(chain: readonly WrittenMigration[], undoing: string): string {
  const names = chain.map((w) => `migrations/${w.file}`).join(", ");
  const one = chain.length === 1;
  return (
    `took back ${names}: the protos undo ${one ? "it" : "them"}, so ${one ? "it does" : "they do"} nothing now, and ` +
    `${undoing} undoes ${one ? "it" : "them"} on a database that applied ${one ? "it" : "them"} ` +
    "(a database that did not, or failed on it, skips both)"
  );
}

/**
 * The note for undone migrations tsmicro cannot take back: undoing a column or table is
 * dropping it, which tsmicro leaves to the user. Deleted, they are forgotten (deletedMigrations).
 */
function deleteIfUnapplied(chain: readonly WrittenMigration[]): string {
  const names = chain.map((w) => `migrations/${w.file}`).join(", ");
  const one = chain.length === 1;
  return (
    `the protos undo ${names}, which tsmicro wrote and nobody edited: if no database applied ${one ? "it" : "them"} ` +
    `(a start failed on ${one ? "it" : "them"}, say), delete ${one ? "it" : "them"} and run tsmicro generate again, ` +
    `which then forgets what ${one ? "it" : "they"} made; if one did, keep ${one ? "it" : "them"} and see the lines below`
  );
}

function recordText(record: SchemaRecord): string {
  const text = {
    "x-generated-by": "tsmicro generate: the schema the migrations in this folder create; do not edit",
    schema: record.schema,
    ...(record.written && record.written.length > 0 ? { written: record.written } : {}),
  };
  return `${JSON.stringify(text, null, 2)}\n`;
}

/** The hash of a migration's text, line endings aside: a checkout may turn them into CRLF. */
function sha256(text: string): string {
  return createHash("sha256").update(text.replace(/\r\n/g, "\n")).digest("hex");
}
