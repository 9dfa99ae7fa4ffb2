import { afterEach, describe, expect, it, vi } from "vitest";
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

  describe("every pooled connection in use", () => {
    afterEach(() => {
      vi.useRealTimers();
    });
    const busy = "every pooled database connection is in use";

    it("is said once the server answers a query, with the end of it", () => {
      const { logger, lines } = recording();
      const log = new OutageLog("db:5432", logger);
      log.busy("none came free within 10 s", busy);
      log.busy("none came free within 10 s", busy);
      expect(lines).toEqual([]);
      log.answered();
      expect(lines.map(([level, , message]) => [level, message])).toEqual([
        ["warn", busy],
        ["info", "the database answers again"],
      ]);
    });

    it("is not said when a cause is said first: the frozen server's stuck queries held the connections", () => {
      vi.useFakeTimers();
      const { logger, lines } = recording();
      const log = new OutageLog("db:5432", logger, 30_000);
      log.busy("none came free within 10 s", busy);
      log.failing("no answer to a query", "the database did not answer in time");
      log.busy("none came free within 10 s", busy);
      vi.advanceTimersByTime(30_000);
      log.answered();
      expect(lines.map(([, , message]) => message)).toEqual([
        "the database did not answer in time",
        "the database answers again",
      ]);
    });

    it("is said after its verdict's wait with neither, and a cause said after it is said too", () => {
      vi.useFakeTimers();
      const { logger, lines } = recording();
      const log = new OutageLog("db:5432", logger, 30_000);
      log.busy("none came free within 10 s", busy);
      vi.advanceTimersByTime(29_999);
      expect(lines).toEqual([]);
      vi.advanceTimersByTime(1);
      log.failing("no answer to a query", "the database did not answer in time");
      expect(lines.map(([, , message]) => message)).toEqual([busy, "the database did not answer in time"]);
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});
