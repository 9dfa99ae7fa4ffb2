import type { Logger } from "../logging/logger.js";
import { onOff, readFlags, type FlagUsage } from "../service/flag-values.js";

/** Where the database is and where its migrations are. */
export interface DatabaseOptions {
  /** `postgres://…`: PostgreSQL through a pg pool. Absent: embedded PGlite. */
  readonly url?: string;
  /** PGlite's data folder (default `data/db`, relative to the working directory); `memory://` keeps it in memory. */
  readonly dataDir?: string;
  /** Folder of `NNNN_name.sql` files that migrate() applies in name order (default `migrations`). */
  readonly migrationsDir?: string;
  /**
   * Apply the migrations not yet applied when the service starts (`--migrate on`, `TSMICRO_MIGRATE=on`):
   * a scaffolded main.ts does so on PostgreSQL only when this is set (PGlite always migrates on start).
   */
  readonly migrate?: boolean;
  /** Receives one line when the database opens and one per applied migration. */
  readonly logger?: Logger;
}

/** The PGlite data folder used when none is given. */
export const defaultDataDir = "data/db";
/** The migrations folder used when none is given. */
export const defaultMigrationsDir = "migrations";

type Setting = { -readonly [K in keyof DatabaseOptions]: DatabaseOptions[K] };

const flags = {
  database_url: (value) => ({ url: value }),
  database_dir: (value) => ({ dataDir: value }),
  migrations_dir: (value) => ({ migrationsDir: value }),
  migrate: (value, source) => ({ migrate: onOff(value, source) }),
} satisfies Readonly<Record<string, (value: string, source: string) => Setting>>;

/** The flag names the database settings read. */
export const databaseFlagNames: readonly string[] = Object.keys(flags);

/** What `--help` says of each flag above; typed by their table, so a flag without one does not compile. */
export const databaseFlagUsage: Readonly<Record<keyof typeof flags, FlagUsage>> = {
  database_url: {
    usage: "postgres://user:password@host:5432/name: PostgreSQL, through a pg pool; unset, embedded PGlite",
    alsoFrom: ["DATABASE_URL"],
  },
  database_dir: { usage: "PGlite's data folder; memory:// keeps it in memory", default: defaultDataDir },
  migrations_dir: {
    usage: "the folder of NNNN_name.sql migrations, applied in name order",
    default: defaultMigrationsDir,
  },
  migrate: {
    usage: "on: a scaffolded service on PostgreSQL applies its pending migrations at start; on PGlite it always does",
    default: "off",
  },
};

/**
 * Reads database settings as the other service flags: `--database_url`
 * (also `DATABASE_URL`, the name every platform sets, and
 * `TSMICRO_DATABASE_URL`), `--database_dir`, `--migrations_dir`, `--migrate`; flags win
 * over variables, and `TSMICRO_*` over `MICRO_*` over `DATABASE_URL`.
 */
export function databaseOptionsFrom(
  args: readonly string[] = process.argv.slice(2),
  env: Readonly<Record<string, string | undefined>> = process.env,
): DatabaseOptions {
  const initial: Setting = { migrationsDir: defaultMigrationsDir };
  if (env.DATABASE_URL) initial.url = env.DATABASE_URL;
  return readFlags<Setting>(flags, args, env, initial, (base, over) => ({ ...base, ...over }));
}
