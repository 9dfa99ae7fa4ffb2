import { describe, expect, it } from "vitest";
import { lineLogger as recording } from "../../../test/support/line-logger.js";
import { OutageLog } from "./outage-log.js";

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
