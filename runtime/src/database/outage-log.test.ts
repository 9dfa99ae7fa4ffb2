import { describe, expect, it } from "vitest";
import type { Logger } from "../logging/logger.js";
import { OutageLog } from "./outage-log.js";

/** A logger keeping each line's level, fields and message. */
function recording(): { logger: Logger; lines: Array<[string, object, string | undefined]> } {
  const lines: Array<[string, object, string | undefined]> = [];
  const at =
    (level: string) =>
    (fields: object | string, message?: string): void =>
      void lines.push(typeof fields === "string" ? [level, {}, fields] : [level, fields, message]);
  const logger: Logger = {
    trace: at("trace"),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: () => logger,
  };
  return { logger, lines };
}

describe("OutageLog", () => {
  it("says idle connections lost together once, and how many went once a query is answered", () => {
    const { logger, lines } = recording();
    const log = new OutageLog("db:5432", logger);
    const restart = "terminating connection due to administrator command (SQLSTATE 57P01)";
    for (let i = 0; i < 10; i++) log.idleLost(restart);
    expect(lines).toEqual([["warn", { database: "db:5432", reason: restart }, "idle database connection lost"]]);
    log.answered();
    log.answered();
    expect(lines.slice(1)).toEqual([
      [
        "info",
        { database: "db:5432", connections: 10 },
        "10 idle database connections were lost together (the first logged); the pool makes new ones as queries need them",
      ],
    ]);
    // A loss after the database answered again is another outage's: said again.
    log.idleLost(restart);
    log.answered();
    expect(lines.slice(2)).toEqual([
      ["warn", { database: "db:5432", reason: restart }, "idle database connection lost"],
    ]);
  });

  it("says the first failure of an outage, and the first answer after it", () => {
    const { logger, lines } = recording();
    const log = new OutageLog("db:5432", logger);
    log.failing("connection refused", "the database cannot be reached");
    log.failing("connection refused", "the database cannot be reached");
    log.answered();
    log.answered();
    expect(lines.map(([level, , message]) => [level, message])).toEqual([
      ["warn", "the database cannot be reached"],
      ["info", "the database answers again"],
    ]);
  });
});
