import { describe, expect, it } from "vitest";
import { findOrphans } from "./plan-sources.js";
import type { SourceModel } from "./source-model.js";

describe("findOrphans", () => {
  it("names the entity whose domain files are left behind", () => {
    const model = { services: [], entities: [], clients: [], standIns: [] } as unknown as SourceModel;
    const orphans = findOrphans(model, [
      "src/domain/model/team.ts",
      "src/domain/repository/sql-team-repository.ts",
      "src/main.ts",
    ]);
    expect(orphans.map((o) => `${o.path}: ${o.why}`)).toEqual([
      "src/domain/model/team.ts: its entity, team, is gone from the protos",
      "src/domain/repository/sql-team-repository.ts: its entity, team, is gone from the protos",
    ]);
  });
});
