import { describe, expect, it } from "vitest";
import { findOrphans, handlerObjectPath, servesRpc } from "./plan-sources.js";
import type { MethodScaffold, ServiceScaffold, SourceModel } from "./source-model.js";

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

describe("servesRpc", () => {
  const getOrder = { localName: "getOrder", fileName: "get-order" } as MethodScaffold;
  const service = {
    fileName: "order-service",
    factoryName: "createOrderServiceHandler",
    handlerType: "OrderServiceHandler",
    methods: [getOrder],
  } as unknown as ServiceScaffold;
  const typed = 'export function getOrder(): OrderServiceHandler["getOrder"] {}';
  const handler = (body: string, from = "get") =>
    `import { getOrder } from "./order-service/${from}.js";\nexport const h = {\n  ${body}\n};`;

  it("finds an rpc in a file of another name typed as it, unless the handler object imports its stub", () => {
    const renamed = new Map([["src/handler/order-service/get.ts", typed]]);
    expect(servesRpc(service, getOrder, renamed)).toBe(true);
    renamed.set("src/handler/order-service.ts", handler("getOrder: getOrder(deps),", "get-order"));
    expect(servesRpc(service, getOrder, renamed)).toBe(false);
  });

  it("reads the handler object where a file of src/handler/ defining its factory moved it", () => {
    const moved = `export function createOrderServiceHandler(deps) {\n  return {\n    async getOrder() {},\n  };\n}`;
    const code = new Map([["src/handler/orders.ts", moved]]);
    expect(handlerObjectPath(service, code)).toBe("src/handler/orders.ts");
    expect(servesRpc(service, getOrder, code)).toBe(true);
    // Named only, not defined (a re-export, a call), it is not the handler object; nor is a file deeper down.
    const named = new Map([
      ["src/handler/index.ts", 'export { createOrderServiceHandler } from "./orders.js";'],
      ["src/handler/order/handler.ts", moved],
    ]);
    expect(handlerObjectPath(service, named)).toBe("src/handler/order-service.ts");
    // The default file wins while it is there.
    code.set("src/handler/order-service.ts", handler("getOrder: getOrder(deps),", "get-order"));
    expect(handlerObjectPath(service, code)).toBe("src/handler/order-service.ts");
    expect(servesRpc(service, getOrder, code)).toBe(false);
  });

  it("does not count a type in a comment, a test's file or a call, and counts a key of the handler object", () => {
    const commented = new Map([
      ["src/handler/order-service/get.ts", `// ${typed}`],
      ["src/handler/order-service/get.test.ts", typed],
      ["src/handler/order-service.ts", "export const h = { other: getOrder(deps) };"],
    ]);
    expect(servesRpc(service, getOrder, commented)).toBe(false);
    const inline = new Map([["src/handler/order-service.ts", "export const h = {\n  async getOrder() {},\n};"]]);
    expect(servesRpc(service, getOrder, inline)).toBe(true);
  });

  it("takes no `//` or `/*` inside a string for a comment: the code after it counts", () => {
    const routed = new Map([
      [
        "src/handler/order-service.ts",
        'const route = "/v1/orders/*";\nexport const h = {\n  async getOrder() {},\n};\n/** The handler. */\n',
      ],
    ]);
    expect(servesRpc(service, getOrder, routed)).toBe(true);
    const cdn = new Map([["src/handler/order-service.ts", 'export const h = { base: "//cdn", async getOrder() {} };']]);
    expect(servesRpc(service, getOrder, cdn)).toBe(true);
    // Strings stay whole: the stub's import, which is one, is still found.
    const imports = new Map([["src/handler/order-service.ts", handler("getOrder: getOrder(deps),", "get-order")]]);
    imports.set("src/handler/order-service/get.ts", typed);
    expect(servesRpc(service, getOrder, imports)).toBe(false);
  });

  it("leaves a file typed as a live rpc, or as none, out of the orphans", () => {
    const model = { services: [service], entities: [], clients: [], standIns: [] } as unknown as SourceModel;
    const files = [
      "src/handler/order-service/get.ts",
      "src/handler/order-service/util.ts",
      "src/handler/order-service/old.ts",
    ];
    const code = new Map([
      [files[0]!, typed],
      [files[1]!, "export const x = 1;"],
      [files[2]!, 'export function f(): OrderServiceHandler["peekOrder"] {}'],
    ]);
    expect(findOrphans(model, files, code).map((o) => o.path)).toEqual(["src/handler/order-service/old.ts"]);
  });
});
