import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, createService, errorReasonOf, silentLogger, type MicroService } from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AccountServiceDefinition,
  isAccountLocked,
  isAccountNotFound,
} from "./golden/14-errors/account/v1/account.micro.js";
import { killAllNodes, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

describe("a typed error from a proto enum, thrown two hops down", () => {
  let dir = "";
  let caller: MicroService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-typed-errors-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    await startNode("test/fixtures/account-node.ts", flags, { ACCOUNT_NAME: "account-back" });
    await startNode("test/fixtures/account-node.ts", flags, {
      ACCOUNT_NAME: "account-front",
      ACCOUNT_DOWNSTREAM: "account-back",
    });
    caller = createService({ name: "caller", args: flags, env: suiteEnv(), logger: silentLogger() });
  });

  afterAll(async () => {
    await caller?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("is recognised by isAccountNotFound at the top, with its code, message and details", async () => {
    const accounts = caller.client(AccountServiceDefinition, "account-front");
    expect(await accounts.get({ id: "1" })).toEqual({ id: "1", owner: "ada" });
    const error = await accounts.get({ id: "42" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAccountNotFound(error)).toBe(true);
    expect(isAccountLocked(error)).toBe(false);
    expect(error).toMatchObject({ code: Code.NOT_FOUND, message: "no account 42", retryable: false });
    expect(errorReasonOf(error)).toEqual({
      reason: "ACCOUNT_NOT_FOUND",
      domain: "fixtures.account.v1.AccountErrorReason",
      metadata: { id: "42" },
    });
  });
});
