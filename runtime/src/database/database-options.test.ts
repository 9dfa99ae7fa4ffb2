import { describe, expect, it } from "vitest";
import { databaseOptionsFrom } from "./database-options.js";

describe("databaseOptionsFrom", () => {
  it("defaults to embedded PGlite and the migrations folder", () => {
    expect(databaseOptionsFrom([], {})).toEqual({ migrationsDir: "migrations" });
  });

  it("reads DATABASE_URL, then TSMICRO_DATABASE_URL over it, then the flag over both", () => {
    const env = { DATABASE_URL: "postgres://a/one" };
    expect(databaseOptionsFrom([], env).url).toBe("postgres://a/one");
    const both = { ...env, TSMICRO_DATABASE_URL: "postgres://b/two" };
    expect(databaseOptionsFrom([], both).url).toBe("postgres://b/two");
    expect(databaseOptionsFrom(["--database_url=postgres://c/three"], both).url).toBe("postgres://c/three");
  });

  it("reads the data and migrations folders from flags and variables", () => {
    const env = { TSMICRO_DATABASE_DIR: "/var/lib/app", TSMICRO_MIGRATIONS_DIR: "db/migrations" };
    expect(databaseOptionsFrom([], env)).toEqual({ dataDir: "/var/lib/app", migrationsDir: "db/migrations" });
    expect(databaseOptionsFrom(["--database_dir", "memory://", "--migrations_dir=sql"], env)).toEqual({
      dataDir: "memory://",
      migrationsDir: "sql",
    });
  });

  it("reads --migrate and TSMICRO_MIGRATE as on or off, and refuses other values naming the variable", () => {
    expect(databaseOptionsFrom([], { TSMICRO_MIGRATE: "true" }).migrate).toBe(true);
    expect(databaseOptionsFrom(["--migrate=off"], { TSMICRO_MIGRATE: "on" }).migrate).toBe(false);
    expect(databaseOptionsFrom([], {}).migrate).toBeUndefined();
    expect(() => databaseOptionsFrom([], { TSMICRO_MIGRATE: "yes" })).toThrow(
      'TSMICRO_MIGRATE has an invalid value "yes": use on or off',
    );
  });

  it("leaves other flags for the program", () => {
    expect(databaseOptionsFrom(["--server_address=:0", "serve"], {})).toEqual({ migrationsDir: "migrations" });
  });

  it("rejects a flag without a value", () => {
    expect(() => databaseOptionsFrom(["--database_url"], {})).toThrow(/--database_url/);
  });
});
