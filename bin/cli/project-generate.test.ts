import { describe, expect, it } from "vitest";
import { type ProjectGenerateResult, projectReport } from "./project-generate.js";

const result = (created: ProjectGenerateResult["created"]): ProjectGenerateResult => ({
  generated: { written: [], unchanged: [], removed: [] } as unknown as ProjectGenerateResult["generated"],
  removed: [],
  out: "src/gen",
  created,
  orphans: [],
  orphansWired: [],
  migration: undefined,
  warnings: [],
  risks: [],
  migrationNotes: [],
  pending: [],
  unserved: [],
  servedGone: [],
  unwired: [],
  unchecked: [],
  renamed: [],
  protoDir: "proto",
  fieldChanges: [],
  moved: [],
  stillImported: [],
});

describe("tsmicro generate's report on a project's own files", () => {
  it("says where a new rpc's handler and a new entity's data service must be wired in", () => {
    const report = projectReport(
      result([
        { path: "src/handler/acct-service/get-invoice.ts", content: "", why: "rpc acct.v1.AcctService/GetInvoice" },
        { path: "src/domain/model/invoice.ts", content: "", why: "entity Invoice" },
        { path: "src/domain/service/invoice-data-service.ts", content: "", why: "entity Invoice" },
      ]),
    );
    expect(report.split("\n")).toEqual([
      "created src/handler/acct-service/get-invoice.ts (rpc acct.v1.AcctService/GetInvoice); add it to src/handler/acct-service.ts",
      "created src/domain/model/invoice.ts (entity Invoice)",
      "created src/domain/service/invoice-data-service.ts (entity Invoice); wire it: add new InvoiceDataService(new " +
        "SqlInvoiceRepository(database.db)) to the deps in src/main.ts, its field to Dependencies in " +
        "src/handler/dependencies.ts, and to the deps of the tests",
      "",
    ]);
  });

  it("says a risk in the migration it wrote is one to edit before a database applies it, not a change left out", () => {
    const report = projectReport({
      ...result([]),
      migration: "migrations/0002_unique_user_nickname.sql",
      warnings: ['column "bio" of table "user" has no field in User any more; tsmicro does not drop columns: …'],
      risks: ['column "nickname" of table "user" is now unique: rows that left the field out all hold \'\', …'],
    });
    expect(report.split("\n")).toEqual([
      "created migrations/0002_unique_user_nickname.sql (the entities changed)",
      'migration: not applied by tsmicro: column "bio" of table "user" has no field in User any more; tsmicro does not drop columns: …',
      "migration: check migrations/0002_unique_user_nickname.sql before a database applies it: " +
        'column "nickname" of table "user" is now unique: rows that left the field out all hold \'\', …',
      "",
    ]);
  });

  it("says a new service must be served from src/main.ts, and nothing about its rpcs' stubs, already in it", () => {
    const report = projectReport(
      result([
        { path: "src/handler/admin-service.ts", content: "", why: "service AdminService" },
        { path: "src/handler/admin-service/purge.ts", content: "", why: "rpc user.v1.AdminService/Purge" },
      ]),
    );
    expect(report.split("\n")).toEqual([
      "created src/handler/admin-service.ts (service AdminService); serve it: import AdminServiceDefinition (from " +
        "src/gen) and createAdminServiceHandler, and add service.handle(AdminServiceDefinition, " +
        "createAdminServiceHandler(deps)) to src/main.ts",
      "created src/handler/admin-service/purge.ts (rpc user.v1.AdminService/Purge)",
      "",
    ]);
  });

  it("says to move a gone service's code into the new one when the protos lost one service and gained one", () => {
    const renamed = {
      ...result([
        { path: "src/handler/stats-service.ts", content: "", why: "service StatsService" },
        { path: "src/handler/stats-service/count-shops.ts", content: "", why: "rpc shop.v1.StatsService/CountShops" },
      ]),
      orphans: [
        { path: "src/handler/report-service.ts", why: "its service is gone from the protos" },
        {
          path: "src/handler/report-service/count-shops.ts",
          why: "service of src/handler/report-service.ts is gone from the protos",
        },
        {
          path: "src/handler/report-service/sum.ts",
          why: "service of src/handler/report-service.ts is gone from the protos",
        },
      ],
    };
    expect(
      projectReport(renamed)
        .split("\n")
        .filter((line) => line.startsWith("orphaned:")),
    ).toEqual([
      "orphaned: src/handler/report-service.ts: its service is gone from the protos; if its service became " +
        "StatsService, move its code into src/handler/stats-service.ts; else delete it",
      "orphaned: src/handler/report-service/count-shops.ts: service of src/handler/report-service.ts is gone from the " +
        "protos; if its service became StatsService, move its code into src/handler/stats-service/count-shops.ts; else delete it",
      "orphaned: src/handler/report-service/sum.ts: service of src/handler/report-service.ts is gone from the protos; " +
        "if its service became StatsService, move its code into src/handler/stats-service/; else delete it",
    ]);
    // A service gone with none new, or with two: no guess.
    const removed = { ...renamed, created: [] };
    expect(projectReport(removed)).toContain("gone from the protos; delete it or move its code\n");
  });

  it("says nothing about adding a file made again that the file wiring it in imports already", () => {
    const stub = {
      path: "src/handler/acct-service/get-invoice.ts",
      content: "",
      why: "rpc acct.v1.AcctService/GetInvoice",
    };
    const report = projectReport({ ...result([stub]), stillImported: [stub.path] });
    expect(report).toBe("created src/handler/acct-service/get-invoice.ts (rpc acct.v1.AcctService/GetInvoice)\n");
  });
});
