import { describe, expect, it } from "vitest";
import { splitSql } from "./split-sql.js";

describe("splitSql", () => {
  it("splits at top-level semicolons and gives each statement's first line", () => {
    const source = "-- header\ncreate table a (x int);\n\n/* why */\ninsert into a values (1);\nselect 1";
    expect(splitSql(source)).toEqual([
      { text: "-- header\ncreate table a (x int)", line: 2 },
      { text: "/* why */\ninsert into a values (1)", line: 5 },
      { text: "select 1", line: 6 },
    ]);
  });

  it("keeps semicolons inside strings, quoted names, comments and dollar-quoted bodies", () => {
    const source = [
      "insert into t values ('a;b', 'it''s;', E'back\\';slash');",
      'create table "odd;name" (x int);',
      "-- a comment; still a comment\n/* block; /* nested; */ still; */ select 1;",
      "create function f() returns int language plpgsql as $body$ begin return 1; end; $body$;",
      "do $$ begin perform 1; end $$;",
      "select $1::int;",
    ].join("\n");
    expect(splitSql(source).map((s) => s.text)).toEqual([
      "insert into t values ('a;b', 'it''s;', E'back\\';slash')",
      'create table "odd;name" (x int)',
      "-- a comment; still a comment\n/* block; /* nested; */ still; */ select 1",
      "create function f() returns int language plpgsql as $body$ begin return 1; end; $body$",
      "do $$ begin perform 1; end $$",
      "select $1::int",
    ]);
  });

  it("drops empty statements and trailing comments", () => {
    expect(splitSql(";;\n  ;\n-- only a comment\n")).toEqual([]);
    expect(splitSql("select 1;\n-- done\n")).toEqual([{ text: "select 1", line: 1 }]);
  });
});
