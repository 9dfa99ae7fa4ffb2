import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ownedBy, readProjectConfig } from "./workspace.js";

const dir = await mkdtemp(join(tmpdir(), "tsmicro-owns-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

/** tsmicro.json's `owns` as readProjectConfig reads it. */
async function owns(value: unknown): Promise<readonly string[] | undefined> {
  await writeFile(join(dir, "tsmicro.json"), JSON.stringify({ type: "service", owns: value }));
  return (await readProjectConfig(dir))?.owns;
}

describe("tsmicro.json owns", () => {
  it("takes one folder or a list, each owning the protos under it, a deeper one only its own", async () => {
    expect(await owns("order")).toEqual(["order"]);
    expect(await owns(["order/", "billing/v2"])).toEqual(["order", "billing/v2"]);
    const mine = ownedBy(await owns(["order", "billing/v2"]));
    expect(["order/v1/order.proto", "billing/v2/bill.proto"].every(mine)).toBe(true);
    expect(["billing/v1/bill.proto", "orders/v1/x.proto", "order.proto", "user/v1/user.proto"].some(mine)).toBe(false);
    expect(ownedBy(await owns(undefined))("any/v1/x.proto")).toBe(true);
  });
});

describe("tsmicro.json", () => {
  it("that is not a JSON object is refused naming the file and what to do, not with a raw SyntaxError", async () => {
    await writeFile(join(dir, "tsmicro.json"), '{ "type": "service", }');
    await expect(readProjectConfig(dir)).rejects.toThrow(/tsmicro\.json is not valid JSON \(.+\); mend it/);
    await writeFile(join(dir, "tsmicro.json"), "[]");
    await expect(readProjectConfig(dir)).rejects.toThrow(/tsmicro\.json holds a list, not an object/);
  });
});
