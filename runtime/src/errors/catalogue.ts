/**
 * Every setup, configuration and generation error tsmicro reports, with a
 * stable code and a printf-style message. A test checks each code is
 * documented in the error table of docs/errors.md.
 */
export const errorCatalogue = {
  TSM_ERR_PLUGIN_OPTION: "unknown plugin option %s in %s; valid options: %s",
  TSM_ERR_PLUGIN_OPTION_VALUE: "plugin option %s has an invalid value %s: %s",
  TSM_ERR_OUTPUT_PATH: "refusing to write %s (from %s): generated paths must stay inside the output directory",
  TSM_ERR_PROTO_SYNTAX: "the protos do not compile:\n%s",
  TSM_ERR_PROTO_IMPORT: "%s: import %s not found; searched %s",
  TSM_ERR_NO_PROTOS: "no .proto files under %s; put the service's proto there or pass --proto DIR",
  TSM_ERR_SHADOWED_NAME:
    "%s %s in %s takes the name %s, which the generated message code uses for its own helpers; rename it (for example to %s)",
  TSM_ERR_FIELD_NAME:
    "field %s of %s in %s becomes the property %s, which every JavaScript object has: the generated code would read it from objects that lack the field; rename the field (for example to %s): on the wire only its number counts",
  TSM_ERR_METHOD_NAME: "rpcs %s and %s of %s in %s both become %s; rename one of them",
  TSM_ERR_SCAFFOLD_NAME: "%s %s and %s would both be scaffolded as %s (a project has one of each name); %s",
  TSM_ERR_FLAG_UNKNOWN: "unknown flag %s: %s",
  TSM_ERR_FLAG: "%s has an invalid value %s: %s",
  TSM_ERR_LOG_PACKAGE: "%s needs the package %s, which is not installed: npm install --save-dev %s",
  TSM_ERR_LOG_FILE: "--log_file %s cannot be opened: %s; pass a path in a writable folder",
  TSM_ERR_REGISTRY_UNREACHABLE: "the %s registry at %s cannot be reached (%s); %s",
  TSM_ERR_ETCD_AUTH: "etcd at %s %s; %s",
  TSM_ERR_BROKER_UNREACHABLE: "the %s broker at %s cannot be used (%s); %s",
  TSM_ERR_ADDRESS_IN_USE: "%s %s is in use by another process; choose another port or stop it",
  TSM_ERR_HANDLER_METHOD:
    "the handler for %s has no method %s (rpc %s); implement it (in a scaffolded project npm run generate wrote its stub under src/handler/: add it to the service's handler), or pass { partial: true } to handle() so missing methods answer UNIMPLEMENTED",
  TSM_ERR_EVENT_HANDLER:
    "the event handler for %s has no method %s (topic %s); implement it, or pass { partial: true } to subscribe() to receive only the events it has",
  TSM_ERR_EVENT: "event %s in %s: %s",
  TSM_ERR_TEMPLATE: "template %s failed: %s",
  TSM_ERR_RENDERED_TS:
    "%s as rendered is not valid TypeScript (%s); nothing was written: check the template of yours (--templates) that writes it, or, with none, report this as a tsmicro bug",
  TSM_ERR_BUF: "buf failed (%s): %s",
  TSM_ERR_HTTP_TEMPLATE: "%s: bad path template %s at column %s: %s",
  TSM_ERR_HTTP_FIELD: "%s: %s names %s, which is not a field of %s; %s",
  TSM_ERR_ROUTE_CONFLICT: "%s; %s makes this an error: bind each method to its own route",
  TSM_ERR_JWT_KEY_SOURCE: "%s: %s; set exactly one of %s",
  TSM_ERR_JWT_KEY: "%s is not a usable key: %s; %s",
  TSM_ERR_GATEWAY_OPTION: "%s has an invalid value %s: %s",
  TSM_ERR_ROUTE_PATTERN: "%s: bad match pattern %s: %s",
  TSM_ERR_CONFIG_FILE: "cannot read %s: %s",
  TSM_ERR_CONFIG_JSON: "%s: not valid JSON: %s",
  TSM_ERR_CONFIG_SETTING: "%s: %s",
  TSM_ERR_CONFIG_YAML: "%s: not valid YAML: %s",
  TSM_ERR_CONFIG_INVALID: "the configuration does not match its schema: %s",
  TSM_ERR_CONFIG_UNREACHABLE: "the %s config source at %s cannot be reached (%s); %s",
  TSM_ERR_ENTITY_PRIMARY_KEY:
    "entity %s in %s has no primary key: add a field named id, or mark one with [(tsmicro.column) = { primary_key: true }]",
  TSM_ERR_ENTITY: "entity %s in %s: %s",
  TSM_ERR_PROJECT_NAME: "%s %s is not a usable name: %s",
  TSM_ERR_PROJECT_DIR: "%s %s; %s",
  TSM_ERR_PROJECT_STEP: "%s failed in %s (exit %s); %s",
  TSM_ERR_DATABASE_LOCKED:
    "the embedded database in %s is in use by %s; run one instance per data directory (--database_dir), or use PostgreSQL (DATABASE_URL) to run several",
  TSM_ERR_DATABASE_DIR:
    "the embedded database's folder %s cannot be used (%s); give --database_dir (TSMICRO_DATABASE_DIR) a folder this process can create and write, or memory:// to keep the data in memory",
  TSM_ERR_DATABASE_UNREACHABLE:
    "the PostgreSQL server at %s cannot be used (%s); check that it runs and that DATABASE_URL (--database_url) names it",
  TSM_ERR_TEST_DATABASE:
    "cannot create the test database %s on %s (%s): tests on PostgreSQL make a database of their own and drop it after, so the role in the URL needs CREATEDB (ALTER ROLE name CREATEDB); or leave DATABASE_URL unset to test on embedded PGlite",
  TSM_ERR_DATABASE_URL:
    "the database URL %s is not usable (%s); mend DATABASE_URL (--database_url): postgres://USER@HOST:5432/DATABASE (USER:PASSWORD@ where it needs a password), then any parameters, such as ?pool_max_conns=20",
  TSM_ERR_DATABASE_PACKAGE: "the %s database needs the package %s, which is not installed: npm install %s",
  TSM_ERR_MIGRATIONS_DIR: "migrations folder %s: %s",
  TSM_ERR_MIGRATIONS_PENDING:
    "the database lacks %s migration(s) this version needs (%s): run npm run migrate (in the image, node dist/migrate.js) first, or set TSMICRO_MIGRATE=on",
  TSM_ERR_SCHEMA_MISMATCH:
    "the database's tables are not those this version's code uses: %s; a change tsmicro generate leaves to you (it said so: a renamed column, a new type) needs a migration in %s written by hand, then npm run migrate",
  TSM_ERR_MIGRATION:
    "migration %s failed at line %s (%s): %s; no migration of this run was applied: mend that migration, or the rows it cannot apply to, and start again; or, if a proto change wrote it, undo that change and run tsmicro generate, which takes back a migration of indexes it wrote and names one that adds columns to delete",
} as const;

/** A code from the error catalogue. */
export type ErrorCode = keyof typeof errorCatalogue;

/** Formats a catalogue message: each `%s` takes the next argument. */
export function formatError(code: ErrorCode, ...args: readonly unknown[]): string {
  let next = 0;
  return errorCatalogue[code].replace(/%s/g, () => String(args[next++]));
}
