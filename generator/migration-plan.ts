import type { ColumnSchema, EntitySchema, TableSchema } from "./entity-schema.js";

/** The next migration: what changed between two schemas, as SQL tsmicro can apply safely. */
export interface MigrationPlan {
  /** A file-name part saying what it does, such as `create_user` or `add_user_email`; `no_changes` when sql is empty. */
  readonly name: string;
  /** PostgreSQL statements, each ending in `;`; empty when there is nothing tsmicro may apply. */
  readonly sql: string;
  /**
   * Changes left out because applying them could lose data or fail on
   * existing rows (removed tables and columns, renames, type and key
   * changes, a column becoming NOT NULL): each names the table and column and
   * the SQL to write by hand in a migration of one's own.
   */
  readonly warnings: readonly string[];
  /**
   * What may go wrong when a database applies `sql` itself (a unique index on a column whose
   * rows hold one value), each with the edit to make to it before one does.
   */
  readonly risks: readonly string[];
}

/** A migration of the project: its file name (`0002_create_inventory.sql`) and SQL, read by the caller. */
export interface MigrationFile {
  readonly name: string;
  readonly sql: string;
}

/** Quotes an identifier: `user` is a reserved word, and quoting keeps every name as the proto spells it. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Plans the migration from `previous` (the schema the last migration was
 * planned from; undefined for the first) to `next`: CREATE TABLE with its
 * indexes for new tables, ADD COLUMN (NOT NULL with proto3's zero value as
 * default, so existing rows get it) for new fields, CREATE [UNIQUE] INDEX
 * for new `unique`/`index` options, DROP INDEX for removed ones, DROP NOT
 * NULL for fields that became `optional`, and new defaults. Never drops,
 * renames or retypes anything: those come back as warnings. Identical
 * schemas give empty sql. Pure. `migrations`, the project's migration
 * files when known, let the warning about a table no longer an entity name
 * the migration that creates it, which may not have been applied yet.
 */
export function planMigration(
  previous: EntitySchema | undefined,
  next: EntitySchema,
  migrations?: readonly MigrationFile[],
): MigrationPlan {
  const before = previous?.tables ?? [];
  const groups: string[][] = [];
  const labels: string[] = [];
  const warnings: string[] = [];
  const risks: string[] = [];

  for (const table of next.tables) {
    const old = before.find((t) => t.name === table.name);
    if (old) {
      const statements = alterTable(old, table, labels, warnings, risks);
      if (statements.length > 0) groups.push(statements);
      continue;
    }
    const renamedFrom = renamedTable(before, next, table);
    if (renamedFrom) {
      if (renamedFrom.message === table.message) {
        warnings.push(tableRenamed(renamedFrom, table));
        continue;
      }
      // What else changed goes in the hand-written migration too, on the table under either name.
      const changes: string[] = [];
      const kept = alterTable(renamedFrom, { ...table, name: renamedFrom.name }, [], [], []);
      const renamed = alterTable({ ...renamedFrom, name: table.name }, table, [], changes, changes);
      const hint =
        renamedFrom.migratedName === table.name
          ? messageRenamedBack(renamedFrom, table, renamed)
          : messageRenamed(renamedFrom, table, kept, renamed);
      warnings.push(hint, ...changes);
      continue;
    }
    groups.push(createTable(table));
    labels.push(`create_${table.name}`);
  }

  for (const old of before) {
    if (old.retained || !isGone(before, next, old)) continue;
    const creator = migrations && creatorOf(old.migratedName ?? old.name, migrations);
    // Whether a migration was applied is the database's to know: both remedies are said, each with its condition.
    const unapplied = creator
      ? `migrations/${creator} creates it: if that migration was never applied to a database, take the table out ` +
        "of it (delete the file if that is all it does) and run tsmicro generate again; if it was applied, "
      : "";
    warnings.push(
      `table ${quoteIdentifier(old.name)} (${old.message}) is no longer an entity; ` +
        `${unapplied}tsmicro does not drop tables: to drop it and its rows, write a migration with DROP TABLE ${quoteIdentifier(old.name)};`,
    );
  }

  const sql = groups.length === 0 ? "" : `${groups.map((g) => g.join("\n")).join("\n\n")}\n`;
  return { name: migrationName(labels), sql, warnings, risks };
}

function createTable(table: TableSchema): string[] {
  const t = quoteIdentifier(table.name);
  const columns = table.columns.map((c) => `  ${columnDefinition(c)}`);
  return [`CREATE TABLE ${t} (\n${columns.join(",\n")}\n);`, ...table.columns.flatMap((c) => createIndexes(table, c))];
}

/** A column's definition as in CREATE TABLE and ADD COLUMN. */
function columnDefinition(c: ColumnSchema): string {
  const parts = [quoteIdentifier(c.name), c.type];
  if (c.identity) parts.push("GENERATED BY DEFAULT AS IDENTITY");
  if (c.primaryKey) parts.push("PRIMARY KEY");
  else if (!c.nullable) parts.push("NOT NULL");
  if (c.default !== null) parts.push(`DEFAULT ${c.default}`);
  return parts.join(" ");
}

/**
 * Unique columns get a unique index rather than a table constraint, so
 * adding and removing `unique` later is one CREATE or DROP INDEX either way
 * (ON CONFLICT works with both).
 */
function createIndexes(table: TableSchema, c: ColumnSchema): string[] {
  const on = `ON ${quoteIdentifier(table.name)} (${quoteIdentifier(c.name)});`;
  const statements: string[] = [];
  if (c.unique) statements.push(`CREATE UNIQUE INDEX ${quoteIdentifier(indexName(table, c, "key"))} ${on}`);
  if (c.indexed) statements.push(`CREATE INDEX ${quoteIdentifier(indexName(table, c, "idx"))} ${on}`);
  return statements;
}

/** PostgreSQL's own naming (`user_email_key` for unique, `_idx` otherwise). */
function indexName(table: Pick<TableSchema, "name">, c: Pick<ColumnSchema, "name">, suffix: "key" | "idx"): string {
  return `${table.name}_${c.name}_${suffix}`;
}

/** The indexes tsmicro makes for a column, by the option that asks for each. */
const indexKinds = [
  { flag: "unique", suffix: "key", unique: true },
  { flag: "indexed", suffix: "idx", unique: false },
] as const;

/**
 * The statements changing `old` into `table`; what they leave to the user goes to `warnings`, and
 * what may fail when a database applies them to `risks`.
 */
function alterTable(
  old: TableSchema,
  table: TableSchema,
  labels: string[],
  warnings: string[],
  risks: string[],
): string[] {
  const t = quoteIdentifier(table.name);
  const statements: string[] = [];
  const where = (c: ColumnSchema) => `column ${quoteIdentifier(c.name)} of table ${t}`;

  for (const c of table.columns) {
    const was = old.columns.find((o) => o.name === c.name);
    if (!was) {
      const renamedFrom = renamedColumn(old, table, c);
      if (renamedFrom) {
        warnings.push(columnRenamed(table, renamedFrom, c));
        // The renamed column's other changes are the migration's too: it is written by hand.
        if (renamedFrom.nullable !== c.nullable && !c.primaryKey && !renamedFrom.primaryKey)
          warnings.push(nullabilityChanged(where(c), t, c));
        continue;
      }
      if (c.primaryKey) {
        warnings.push(
          `${where(c)} is the new primary key of ${table.message}; tsmicro does not change primary keys: write a migration that adds it, fills it and moves the key`,
        );
        continue;
      }
      statements.push(`ALTER TABLE ${t} ADD COLUMN ${columnDefinition(c)};`, ...createIndexes(table, c));
      labels.push(`add_${table.name}_${c.name}`);
      if (c.unique && !c.nullable)
        risks.push(
          `${where(c)} is new, unique and NOT NULL: every row already there gets ${c.default ?? "the same value"}, so its ` +
            `unique index fails on a table of two rows or more, and only one new row may leave the field out. ` +
            `Edit the migration written now before it is applied (a later generate cannot mend it): fill the column with ` +
            `distinct values (UPDATE ${t} SET ${quoteIdentifier(c.name)} = …) before its CREATE UNIQUE INDEX; or, for a ` +
            `column rows may leave empty, add it as ADD COLUMN ${quoteIdentifier(c.name)} ${c.type} (no NOT NULL or DEFAULT) ` +
            `and make the field optional in the proto (NULLs do not collide)`,
        );
      continue;
    }

    if (typeOf(was) !== typeOf(c)) warnings.push(retyped(where(c), was, c, t));
    else if (was.json !== undefined && c.json !== undefined && was.json !== c.json)
      warnings.push(jsonRetyped(where(c), was.json, c.json, t));
    if (was.primaryKey !== c.primaryKey && c.primaryKey) {
      warnings.push(
        `${where(c)} is the new primary key of ${table.message} (was ${quoteIdentifier(old.primaryKey)}); ` +
          `tsmicro does not change primary keys: write a migration that moves it`,
      );
    }
    if (was.nullable !== c.nullable && !c.primaryKey && !was.primaryKey) {
      if (c.nullable) {
        statements.push(`ALTER TABLE ${t} ALTER COLUMN ${quoteIdentifier(c.name)} DROP NOT NULL;`);
        labels.push(`alter_${table.name}_${c.name}`);
      } else warnings.push(nullabilityChanged(where(c), t, c));
    }
    // Defaults only matter for rows written without the column; changing one touches no row.
    if (was.default !== c.default && was.type === c.type && (c.nullable || was.nullable === c.nullable)) {
      const change = c.default === null ? "DROP DEFAULT" : `SET DEFAULT ${c.default}`;
      statements.push(`ALTER TABLE ${t} ALTER COLUMN ${quoteIdentifier(c.name)} ${change};`);
      labels.push(`alter_${table.name}_${c.name}`);
    }
    for (const { flag, suffix, unique } of indexKinds) {
      if (was[flag] === c[flag]) continue;
      const name = quoteIdentifier(indexName(table, c, suffix));
      if (c[flag]) {
        statements.push(`CREATE ${unique ? "UNIQUE " : ""}INDEX ${name} ON ${t} (${quoteIdentifier(c.name)});`);
        labels.push(`${unique ? "unique" : "index"}_${table.name}_${c.name}`);
        if (unique && !was.nullable && was.default !== null) risks.push(madeUnique(where(c), t, was, c));
      } else {
        // An index holds no data of its own: dropping it loses nothing.
        statements.push(`DROP INDEX IF EXISTS ${name};`);
        labels.push(`drop_${unique ? "unique" : "index"}_${table.name}_${c.name}`);
      }
    }
  }

  for (const was of old.columns) {
    if (was.retained || table.columns.some((c) => c.name === was.name || c.field === was.field)) continue;
    // Inserts leave it out: NULL, or its default (the same in every new row, which a unique index refuses).
    const rows =
      !was.nullable && was.default === null
        ? " Until then inserts fail, as the column has no default."
        : was.unique && !was.nullable
          ? ` Until then every new row gets ${was.default} there, and its unique index refuses the second one.`
          : "";
    warnings.push(
      `${where(was)} has no field in ${table.message} any more; tsmicro does not drop columns: ` +
        `to drop it and its data, write a migration with ALTER TABLE ${t} DROP COLUMN ${quoteIdentifier(was.name)};${rows}`,
    );
  }
  return statements;
}

/**
 * The schema to record after planning from `previous` to `next`: `next`,
 * with the tables and columns it no longer has kept as `retained`, since
 * tsmicro drops nothing and the database still holds them. A field removed
 * and later added back then finds its column there instead of adding it
 * twice, and a removal is warned about once. A rename or type change, only
 * warned about too, keeps what tsmicro's migrations made (`migratedName`,
 * `migrated`): whether a migration of one's own followed is not known, so
 * a later hint about that table or column names both. When `migrations`
 * (the project's migration files) are known, a table no entity has that
 * none of them names any more is not kept: the migrations do not create it
 * (its migration was deleted, unapplied, after its proto stopped being owned).
 */
export function recordedSchema(
  previous: EntitySchema | undefined,
  next: EntitySchema,
  migrations?: readonly MigrationFile[],
): EntitySchema {
  const before = previous?.tables ?? [];
  const tables = next.tables.map((table) =>
    recordedTable(before.find((t) => t.name === table.name) ?? renamedTable(before, next, table), table),
  );
  const gone = before
    .filter((old) => isGone(before, next, old))
    .filter((old) => !migrations || migrations.some((m) => namesTable(m.sql, old.migratedName ?? old.name)));
  return { ...next, tables: [...tables, ...gone.map(retain)] };
}

/** The first migration file whose SQL creates `table` (quoted or not, in any case). */
function creatorOf(table: string, migrations: readonly MigrationFile[]): string | undefined {
  const quoted = `(${escapedPattern(quoteIdentifier(table))}|${escapedPattern(table)}\\b)`;
  const creates = new RegExp(`create\\s+table\\s+(if\\s+not\\s+exists\\s+)?${quoted}`, "i");
  return [...migrations].sort((a, b) => a.name.localeCompare(b.name)).find((m) => creates.test(m.sql))?.name;
}

/** True when `sql` names `table` anywhere: a table it might create, rename or alter is not forgotten. */
function namesTable(sql: string, table: string): boolean {
  return new RegExp(`(${escapedPattern(quoteIdentifier(table))}|\\b${escapedPattern(table)}\\b)`, "i").test(sql);
}

function escapedPattern(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function recordedTable(old: TableSchema | undefined, table: TableSchema): TableSchema {
  if (!old) return table;
  const columns = table.columns.map((c) =>
    recordedColumn(old.columns.find((o) => o.name === c.name) ?? renamedColumn(old, table, c), c),
  );
  const kept = old.columns.filter((was) => !table.columns.some((c) => c.name === was.name || c.field === was.field));
  const migratedName = old.migratedName ?? old.name;
  return {
    ...table,
    columns: [...columns, ...kept.map(retain)],
    ...(migratedName === table.name ? {} : { migratedName }),
  };
}

function recordedColumn(was: ColumnSchema | undefined, c: ColumnSchema): ColumnSchema {
  if (!was) return c;
  const migrated = was.migrated ?? { name: was.name, type: was.type, identity: was.identity };
  return migrated.name === c.name && typeOf(migrated) === typeOf(c) ? c : { ...c, migrated };
}

/**
 * The recorded table `table` had another name in: one of the same message whose name no entity has
 * now, or else the table of a message renamed with it (see renamedMessage).
 */
function renamedTable(before: readonly TableSchema[], next: EntitySchema, table: TableSchema): TableSchema | undefined {
  return (
    before.find((t) => t.message === table.message && !next.tables.some((n) => n.name === t.name)) ??
    renamedMessage(before, next, table)
  );
}

/**
 * The recorded table of a message that looks renamed to `table`'s: both gone and new in the same
 * proto file, with the same fields (numbers, column types, key), and neither side matching another.
 * Its rows are worth more than the guess costs: a CREATE would start the new table empty beside them.
 */
function renamedMessage(
  before: readonly TableSchema[],
  next: EntitySchema,
  table: TableSchema,
): TableSchema | undefined {
  const isNew = (n: TableSchema) => !before.some((t) => t.name === n.name || t.message === n.message);
  const isGoneOld = (t: TableSchema) =>
    !t.retained && !next.tables.some((n) => n.name === t.name || n.message === t.message);
  const alike = (t: TableSchema, n: TableSchema) => t.file === n.file && fieldsOf(t) === fieldsOf(n);
  if (!isNew(table)) return undefined;
  const [old, other] = before.filter((t) => isGoneOld(t) && alike(t, table));
  if (!old || other) return undefined;
  return next.tables.filter((n) => isNew(n) && alike(old, n)).length === 1 ? old : undefined;
}

/** A table's fields as a renamed message keeps them: number, column type and key, in field order. */
function fieldsOf(table: TableSchema): string {
  return table.columns
    .filter((c) => !c.retained)
    .map((c) => `${c.field}:${typeOf(c)}:${c.json ?? ""}${c.primaryKey ? ":key" : ""}`)
    .sort()
    .join(",");
}

/** Whether a recorded table is gone from `next`: no entity has its name or message, nor renamed it. */
function isGone(before: readonly TableSchema[], next: EntitySchema, old: TableSchema): boolean {
  return !next.tables.some(
    (t) => t.name === old.name || t.message === old.message || renamedMessage(before, next, t) === old,
  );
}

/**
 * The warning for a NOT NULL column with a default made unique: every row that left the field out
 * holds that default, so the index fails on the rows already there (as a new unique column's would),
 * and, while the column stays NOT NULL, on the second new row that leaves it out.
 */
function madeUnique(where: string, t: string, was: ColumnSchema, c: ColumnSchema): string {
  const q = quoteIdentifier(c.name);
  const filled = `WHERE ${q} = ${was.default}`;
  const toNull = `UPDATE ${t} SET ${q} = NULL ${filled};`;
  const remedy = c.nullable
    ? `write ${toNull} (NULLs do not collide)`
    : `give those rows distinct values (UPDATE ${t} SET ${q} = … ${filled}); or, for a column rows may leave empty, ` +
      `make the field optional in the proto and write there ALTER TABLE ${t} ALTER COLUMN ${q} DROP NOT NULL; ${toNull} ` +
      "(NULLs do not collide)";
  return (
    `${where} is now unique: rows that left the field out all hold ${was.default}, so its CREATE UNIQUE INDEX fails ` +
    `while two rows do${c.nullable ? "" : ", and only one new row may leave the field out"}. Edit the migration written ` +
    `now before a database applies it: before its CREATE UNIQUE INDEX, ${remedy}`
  );
}

/** The recorded column `c` had another name in: one of the same field whose name no field has now. */
function renamedColumn(old: TableSchema, table: TableSchema, c: ColumnSchema): ColumnSchema | undefined {
  return old.columns.find((o) => o.field === c.field && !table.columns.some((n) => n.name === o.name));
}

/**
 * The hint for a rename of `name` to `to`, which tsmicro leaves to the user. `migrated` is the
 * name tsmicro's migrations gave it, when a rename since was only warned about: the database then
 * holds one name or the other, and the hint names both; back at that name, there may be nothing to do.
 */
function renameHint(
  kinds: "tables" | "columns",
  what: string,
  name: string,
  to: string,
  migrated: string | undefined,
  sql: (from: string) => string,
): string {
  const [q, qTo] = [quoteIdentifier(name), quoteIdentifier(to)];
  if (migrated === undefined || migrated === name)
    return `${what} is now named ${qTo}; tsmicro does not rename ${kinds}: write a migration with ${sql(name)}`;
  const made = quoteIdentifier(migrated);
  if (migrated === to)
    return (
      `${what} is named ${qTo} again, as tsmicro's migrations made it: if a migration of your own renamed it to ${q}, ` +
      `write one with ${sql(name)} otherwise there is nothing to do`
    );
  return (
    `${what} is now named ${qTo}; tsmicro does not rename ${kinds}: write a migration with ${sql(name)} ` +
    `if one of your own renamed ${made} to ${q}, or else with ${sql(migrated)}`
  );
}

function tableRenamed(was: TableSchema, table: TableSchema): string {
  const hint = renameHint(
    "tables",
    `table ${quoteIdentifier(was.name)} of ${table.message}`,
    was.name,
    table.name,
    was.migratedName,
    (from) => renameTable(was, from, table),
  );
  return `${hint} (and compare its columns with ${table.file})`;
}

/**
 * The hint for an entity message renamed with its table's name, which renamedMessage guesses:
 * no CREATE TABLE, so the rows are not left behind, and the two ways to keep them (the old
 * table's name in the proto, or a rename), each with the statements of the message's other
 * changes (`kept`, `renamed`). A guess may be wrong, so the CREATE is spelt out.
 */
function messageRenamed(
  was: TableSchema,
  table: TableSchema,
  kept: readonly string[],
  renamed: readonly string[],
): string {
  const [q, qTo] = [quoteIdentifier(was.name), quoteIdentifier(table.name)];
  const message = table.message.slice(table.message.lastIndexOf(".") + 1);
  const option = `option (tsmicro.entity) = { table: "${was.name}" } in ${message}`;
  const rename = [renameTable(was, was.name, table), ...renamed].join(" ");
  const migrated =
    was.migratedName === undefined || was.migratedName === was.name
      ? ""
      : ` (or, if no migration of your own renamed ${quoteIdentifier(was.migratedName)} to ${q}, with ` +
        `${[renameTable(was, was.migratedName, table), ...renamed].join(" ")})`;
  const create = [
    `CREATE TABLE ${qTo} (${table.columns.map(columnDefinition).join(", ")});`,
    ...table.columns.flatMap((c) => createIndexes(table, c)),
  ].join(" ");
  return (
    `table ${q} of ${was.message} looks renamed with its message: ${table.message} in ${table.file} has the same ` +
    `fields, and its table is named ${qTo}; tsmicro does not rename tables, and wrote no CREATE TABLE ${qTo}, ` +
    `which would start empty beside the rows of ${q}. To keep them, either keep the table's name with ${option}` +
    `${kept.length > 0 ? ` (and write a migration with ${kept.join(" ")})` : ""}, ` +
    `or write a migration with ${rename}${migrated} If ${message} is a new entity instead, write a migration with ${create}`
  );
}

/**
 * The hint for an entity message renamed back, with its table, to the name tsmicro's migrations gave
 * that table (an earlier rename undone): its rows are there already unless a migration of one's own
 * renamed the table since, so messageRenamed's advice (rename the table, or create it) would fail.
 */
function messageRenamedBack(was: TableSchema, table: TableSchema, renamed: readonly string[]): string {
  const [q, qTo] = [quoteIdentifier(was.name), quoteIdentifier(table.name)];
  const otherwise = renamed.length > 0 ? `write a migration with ${renamed.join(" ")}` : "there is nothing to do";
  return (
    `table ${q} of ${was.message} is named ${qTo} again, with its message ${table.message}, as tsmicro's ` +
    `migrations made it: if a migration of your own renamed it to ${q}, write one with ` +
    `${[renameTable(was, was.name, table), ...renamed].join(" ")} otherwise ${otherwise}`
  );
}

/** ALTER TABLE … RENAME TO, and ALTER INDEX for the indexes tsmicro named after the table, which later migrations name. */
function renameTable(was: TableSchema, from: string, table: TableSchema): string {
  const indexes = was.columns
    .filter((c) => !c.retained)
    .flatMap((c) =>
      indexKinds
        .filter(({ flag }) => c[flag])
        .map(({ suffix }) => {
          const [old, name] = [indexName({ name: from }, c, suffix), indexName(table, c, suffix)];
          return `ALTER INDEX IF EXISTS ${quoteIdentifier(old)} RENAME TO ${quoteIdentifier(name)};`;
        }),
    );
  return [`ALTER TABLE ${quoteIdentifier(from)} RENAME TO ${quoteIdentifier(table.name)};`, ...indexes].join(" ");
}

function columnRenamed(table: TableSchema, was: ColumnSchema, c: ColumnSchema): string {
  const t = quoteIdentifier(table.name);
  return renameHint(
    "columns",
    `column ${quoteIdentifier(was.name)} of table ${t} (field ${c.field} of ${table.message})`,
    was.name,
    c.name,
    was.migrated?.name,
    (from) => renameColumn(table, was, from, c),
  );
}

/**
 * ALTER TABLE … RENAME COLUMN, and for the indexes tsmicro named after the column (which later
 * migrations drop by name, and a new column of the old name would collide with) ALTER INDEX …
 * RENAME TO; an index the field gained or lost with the rename is created or dropped there too.
 */
function renameColumn(table: TableSchema, was: ColumnSchema, from: string, c: ColumnSchema): string {
  const t = quoteIdentifier(table.name);
  const statements = [`ALTER TABLE ${t} RENAME COLUMN ${quoteIdentifier(from)} TO ${quoteIdentifier(c.name)};`];
  for (const { flag, suffix, unique } of indexKinds) {
    const old = quoteIdentifier(indexName(table, { name: from }, suffix));
    const name = quoteIdentifier(indexName(table, c, suffix));
    if (was[flag] && c[flag]) statements.push(`ALTER INDEX IF EXISTS ${old} RENAME TO ${name};`);
    else if (was[flag]) statements.push(`DROP INDEX IF EXISTS ${old};`);
    else if (c[flag])
      statements.push(`CREATE ${unique ? "UNIQUE " : ""}INDEX ${name} ON ${t} (${quoteIdentifier(c.name)});`);
  }
  return statements.join(" ");
}

/**
 * The hint for a column whose field became optional or no longer is, where tsmicro writes no
 * statement: NOT NULL is never added (it fails on rows holding NULL), and a renamed column's
 * changes all go in the hand-written migration that renames it.
 */
function nullabilityChanged(where: string, t: string, c: ColumnSchema): string {
  const column = quoteIdentifier(c.name);
  if (c.nullable)
    return `${where} is now optional: in the migration that renames it, also ALTER TABLE ${t} ALTER COLUMN ${column} DROP NOT NULL;`;
  const fill = c.default ?? "…";
  return (
    `${where} is no longer optional (NOT NULL); tsmicro does not add NOT NULL, which fails on rows holding NULL: ` +
    `write a migration with UPDATE ${t} SET ${column} = ${fill} WHERE ${column} IS NULL; ` +
    `ALTER TABLE ${t} ALTER COLUMN ${column} SET DEFAULT ${fill}; ` +
    `ALTER TABLE ${t} ALTER COLUMN ${column} SET NOT NULL;`
  );
}

/** A column's type as hints name it: `bigint identity` for a numbered key. */
function typeOf(c: { readonly type: string; readonly identity: boolean }): string {
  return `${c.type}${c.identity ? " identity" : ""}`;
}

/**
 * The hint for a type change of the column `where` names, which tsmicro leaves to the user (see
 * renameHint). A key numbered by the database (identity) must be made one: the generated code
 * leaves 0 out of inserts, expecting the database to number the row; and it must stop being one
 * to take a type an identity cannot have.
 */
function retyped(where: string, was: ColumnSchema, c: ColumnSchema, table: string): string {
  const [from, to] = [typeOf(was), typeOf(c)];
  const sql = retypeSql(was, c, table);
  const made = was.migrated && typeOf(was.migrated);
  if (made === undefined || made === from)
    return `${where} changes type from ${from} to ${to}; tsmicro does not change column types: write a migration, such as ${sql}`;
  if (made === to)
    return (
      `${where} is ${to} again, as tsmicro's migrations made it: if a migration of your own changed it to ${from}, ` +
      `write one changing it back, such as ${sql} otherwise there is nothing to do`
    );
  return (
    `${where} changes type from ${from} to ${to} (tsmicro's migrations made it ${made}, and a migration of your own ` +
    `may have changed it since); tsmicro does not change column types: write a migration, such as ${sql}`
  );
}

/** The statements changing column `c`'s type from what `was` has, identity included. */
function retypeSql(was: { readonly identity: boolean }, c: ColumnSchema, table: string): string {
  const alter = `ALTER TABLE ${table} ALTER COLUMN ${quoteIdentifier(c.name)}`;
  const statements = [`${alter} TYPE ${c.type} USING …;`];
  if (was.identity && !c.identity) statements.unshift(`${alter} DROP IDENTITY IF EXISTS;`);
  if (c.identity && !was.identity) {
    // Numbering starts after the rows already there, whose keys it would repeat.
    const sequence = `pg_get_serial_sequence('${table.replace(/'/g, "''")}', '${c.name.replace(/'/g, "''")}')`;
    statements.push(
      `${alter} ADD GENERATED BY DEFAULT AS IDENTITY;`,
      `SELECT setval(${sequence}, coalesce(max(${quoteIdentifier(c.name)}), 0) + 1, false) FROM ${table};`,
    );
  }
  return statements.join(" ");
}

/** The hint for a jsonb column whose field changed its proto type: the SQL type stays, the JSON in the rows does not. */
function jsonRetyped(where: string, from: string, to: string, table: string): string {
  return (
    `${where} changes from ${from} to ${to}, both stored as jsonb: rows written before hold ${from}'s JSON, and a ` +
    `row that does not read as ${to} fails every call that reads it (INTERNAL). Unless every row fits both, write a ` +
    `migration that converts them, such as UPDATE ${table} SET … (or clears them)`
  );
}

function retain<T extends TableSchema | ColumnSchema>(item: T): T {
  return { ...item, retained: true };
}

/** `create_user`, `add_user_email_and_index_user_name`, or the first change and how many more. */
function migrationName(labels: readonly string[]): string {
  const unique = [...new Set(labels)];
  if (unique.length === 0) return "no_changes";
  const name = unique.length <= 2 ? unique.join("_and_") : `${unique[0]}_and_${unique.length - 1}_more`;
  return name.toLowerCase().slice(0, 80);
}

/**
 * True when `a` and `b` differ in indexes and defaults only: a migration between them changes no
 * table, column, type or NULL, so its inverse can be written to hold on a database that applied
 * it and on one that did not alike (see holdingEitherWay).
 */
export function differsInIndexesOnly(a: EntitySchema, b: EntitySchema): boolean {
  const shape = (schema: EntitySchema) =>
    JSON.stringify(
      schema.tables.map((t) => ({
        ...t,
        columns: t.columns.map(({ unique: _u, indexed: _i, default: _d, ...rest }) => rest),
      })),
    );
  return shape(a) === shape(b);
}

/**
 * `sql`, a plan between schemas that differ in indexes and defaults only, with each CREATE INDEX made
 * IF NOT EXISTS: it then holds on a database whether or not it applied the migration it undoes
 * (DROP INDEX is IF EXISTS already, and a default is set to the same value either way).
 */
export function holdingEitherWay(sql: string): string {
  return sql.replace(/^CREATE (UNIQUE )?INDEX (?!IF NOT EXISTS )/gm, "CREATE $1INDEX IF NOT EXISTS ");
}

/**
 * Renames, type changes and table renames recorded in `recorded` that `previous` recorded the same
 * way (so an earlier run warned about them) and that no migration in `migrations` makes yet: a
 * line each, with the SQL to write. The database may still lack the change; without a migration
 * that makes it, the service stops at start with TSM_ERR_SCHEMA_MISMATCH.
 */
export function pendingChanges(
  previous: EntitySchema,
  recorded: EntitySchema,
  migrations: readonly MigrationFile[],
): string[] {
  const statements = migrations.flatMap((m) => m.sql.split(";").map((s) => s.replace(/\s+/g, " ").trim()));
  const lines: string[] = [];
  for (const table of recorded.tables) {
    if (table.retained) continue;
    const was = previous.tables.find((t) => t.name === table.name);
    if (!was) continue;
    const t = quoteIdentifier(table.name);
    if (table.migratedName !== undefined && was.migratedName === table.migratedName) {
      const renamesTable = new RegExp(
        `^alter table (if exists )?\\S+ rename to ${identifierPattern(table.name)}$`,
        "i",
      );
      if (!statements.some((s) => renamesTable.test(s)))
        lines.push(
          `table ${t} of ${table.message}: tsmicro's migrations named it ${quoteIdentifier(table.migratedName)}, ` +
            `and no migration renames it: write one with ${renameTable(was, table.migratedName, table)}`,
        );
    }
    const alters = (c: string) =>
      new RegExp(`^alter table (if exists )?(only )?${identifierPattern(table.name)} ${c}`, "i");
    for (const c of table.columns) {
      const migrated = c.migrated;
      const same = was.columns.find((o) => o.name === c.name);
      if (c.retained || !migrated || !same || JSON.stringify(same.migrated) !== JSON.stringify(migrated)) continue;
      const where = `column ${quoteIdentifier(c.name)} of table ${t} (field ${c.field} of ${table.message})`;
      const column = identifierPattern(c.name);
      if (migrated.name !== c.name && !statements.some((s) => alters(`rename (column )?\\S+ to ${column}`).test(s))) {
        const made = { ...c, name: migrated.name, type: migrated.type, identity: migrated.identity };
        lines.push(
          `${where}: tsmicro's migrations named it ${quoteIdentifier(migrated.name)}, and no migration renames it: ` +
            `write one with ${renameColumn(table, made, migrated.name, c)}`,
        );
      } else if (
        typeOf(migrated) !== typeOf(c) &&
        !statements.some((s) =>
          alters(`alter (column )?${column} (set data type|type|add generated|drop identity)`).test(s),
        )
      ) {
        lines.push(
          `${where}: tsmicro's migrations made it ${typeOf(migrated)}, the proto now ${typeOf(c)}, and no migration ` +
            `changes its type: write one, such as ${retypeSql(migrated, c, t)}`,
        );
      }
    }
  }
  return lines;
}

/** A pattern matching `name` as an identifier in SQL: quoted as tsmicro quotes it, or bare in any case. */
function identifierPattern(name: string): string {
  return `(${escapedPattern(quoteIdentifier(name))}|${escapedPattern(name)}\\b)`;
}
