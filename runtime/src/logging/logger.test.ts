import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { sql } from "kysely";
import { openDatabase } from "../database/database.js";
import { createLogger, resolvePackage, writesForPeople } from "./logger.js";

const run = promisify(execFile);

/** The rotation number pino-roll puts in a file name (`user.3.log` → 3). */
const number = (name: string) => Number(/\.(\d+)\.log$/.exec(name)?.[1] ?? 0);

const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtaWNybyIsImV4cCI6MTk5OTk5OTk5OX0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";

/** A logger writing into an array of parsed lines. */
function captured(options: Parameters<typeof createLogger>[0] = {}) {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: createLogger({ ...options, destination }), lines, raw };
}

describe("createLogger", () => {
  it("takes a message alone, as pino does, redacted like any other", () => {
    const { logger, lines } = captured({ service: "user" });
    logger.info("ready");
    logger.warn("login failed for password=hunter2");
    expect(lines).toMatchObject([
      { service: "user", level: 30, msg: "ready" },
      { service: "user", level: 40, msg: "login failed for password=[redacted]" },
    ]);
  });

  it("prints service, version and node in every line, and the mixin's fields at the time of writing", () => {
    let span = "span-1";
    const { logger, lines } = captured({
      service: "user",
      version: "1.2.0",
      node: "user-42",
      mixin: () => ({ trace_id: "t-1", span_id: span }),
    });
    logger.info({ n: 1 }, "first");
    span = "span-2";
    logger.child({ method: "/user.User/Login" }).warn({}, "second");
    expect(lines).toMatchObject([
      { service: "user", version: "1.2.0", node: "user-42", trace_id: "t-1", span_id: "span-1", n: 1, msg: "first" },
      { service: "user", node: "user-42", method: "/user.User/Login", span_id: "span-2", msg: "second" },
    ]);
  });

  it("never prints credentials: secret-named fields at any depth, JWTs, bearer tokens and secret query parameters", () => {
    const { logger, raw } = captured({ level: "trace" });
    const request = { userName: "micro", pwd: "hunter2", profile: { password: "hunter3", apiKey: "k-123" } };
    const metadata = { authorization: `Bearer ${jwt}`, "x-request-id": "r-1" };
    logger.info({ request, metadata }, "login");
    logger.debug({ url: `/user/login?access_token=${jwt}&password=hunter4&page=2` }, "request");
    logger.error({ err: new Error(`token ${jwt} was refused`) }, `call with Bearer ${jwt} failed`);
    logger.child({ token: "child-secret" }).info({}, "child");
    const text = raw.join("\n");
    for (const secret of ["hunter2", "hunter3", "hunter4", "k-123", jwt, "child-secret"]) {
      expect(text).not.toContain(secret);
    }
    // What is not secret stays readable.
    expect(text).toContain('"userName":"micro"');
    expect(text).toContain('"x-request-id":"r-1"');
    expect(text).toContain("page=2");
    expect(text).toContain("was refused");
  });

  it("never prints credentials in the other places they turn up: deep, in raw headers, as header text, in signed URLs", () => {
    const { logger, raw } = captured();
    let deep: Record<string, unknown> = { password: "hunter10" };
    for (let i = 0; i < 20; i++) deep = { level: deep };
    logger.info({ deep }, "nested");
    logger.info({ passphrase: "hunter11", session: "hunter12", sid: "hunter13", jwt: "hunter14" }, "keys");
    logger.info({ aws_access_key_id: "hunter15", signature: "hunter16" }, "keys");
    logger.info({ rawHeaders: ["Host", "x", "Cookie", "hunter17", "Authorization", "Token hunter18"] }, "raw");
    logger.info("sent Cookie: sid=hunter19; theme=dark");
    logger.info('Authorization: Digest username="ann", response="hunter20"');
    logger.info("GET /cb?code=hunter21&state=s and /f?sig=hunter22&X-Amz-Signature=hunter23&password%3Dhunter24");
    logger.info({ database: "postgres://app:p@ss-hunter25@db.internal/users" }, "db");
    const text = raw.join("\n");
    for (let n = 10; n <= 25; n++) expect(text).not.toContain(`hunter${n}`);
    // What is not secret stays readable.
    expect(text).toContain("state=s");
    expect(text).toContain("@db.internal/users");
    expect(text).toContain('"Host","x"');
  });

  it("never prints the password in a URL, in a field, a message or an error", () => {
    const { logger, raw } = captured();
    logger.info({ database: "postgres://app:hunter5@db.internal:5432/users" }, "connecting");
    logger.error({ err: new Error("connect postgres://app:hunter6@db.internal/users failed") }, "no database");
    logger.warn("retrying nats://bus:hunter7@127.0.0.1:4222");
    // go-micro's etcd endpoint has no scheme; a password may hold an @.
    logger.warn(
      "with --registry_address=root:hunter26@127.0.0.1:2379 and app:p@hunter27@etcd-1:2379, mail ann@example.com",
    );
    const text = raw.join("\n");
    for (const secret of ["hunter5", "hunter6", "hunter7", "hunter26", "hunter27"]) expect(text).not.toContain(secret);
    expect(text).toContain(
      "--registry_address=root:[redacted]@127.0.0.1:2379 and app:[redacted]@etcd-1:2379, mail ann@example.com",
    );
    // The rest of the URL says where it went.
    expect(text).toContain("postgres://app:[redacted]@db.internal:5432/users");
    expect(text).toContain("nats://bus:[redacted]@127.0.0.1:4222");
  });

  it("never prints a database error's query parameters, the row's values, whatever their columns are named", async () => {
    const database = await openDatabase({ dataDir: "memory://" });
    let failure: unknown;
    try {
      // Fails for another value than the parameter, as an insert fails on one column of many.
      await sql`SELECT ${"hunter8-in-a-plain-column"}::text, 1 / 0`.execute(database.db);
    } catch (error) {
      failure = error;
    } finally {
      await database.close();
    }
    // PGlite's error carries the query and its parameters.
    expect(failure).toMatchObject({ params: ["hunter8-in-a-plain-column"] });
    const { logger, raw, lines } = captured();
    logger.error({ err: failure }, "query failed");
    expect(raw.join("\n")).not.toContain("hunter8");
    expect(lines[0]!.err).toMatchObject({ query: expect.stringContaining("$1"), params: "[redacted]" });
  });

  it("writes for people (no second copy of a start failure) only on stdout, when it is a terminal", () => {
    const tty = Object.getOwnPropertyDescriptor(process.stdout, "isTTY");
    const json = createLogger();
    const elsewhere = captured().logger;
    try {
      Object.defineProperty(process.stdout, "isTTY", { value: false, configurable: true });
      expect(writesForPeople(json)).toBe(false);
      Object.defineProperty(process.stdout, "isTTY", { value: true, configurable: true });
      expect(writesForPeople(json)).toBe(true);
      // A destination of its own is for a collector, wherever stdout goes.
      expect(writesForPeople(elsewhere)).toBe(false);
    } finally {
      if (tty) Object.defineProperty(process.stdout, "isTTY", tty);
      else delete (process.stdout as { isTTY?: boolean }).isTTY;
    }
  });

  it("leaves out the objects a library hangs on an error (a client, a socket), keeping its own fields", () => {
    class Client {
      readonly connection = { stream: { readable: true }, secretKey: 42 };
    }
    const failure = Object.assign(new Error("terminating connection"), {
      code: "57P01",
      client: new Client(),
      detail: { table: "users" },
      cause: new Error("socket closed"),
    });
    const { logger, lines } = captured();
    logger.warn({ err: failure }, "idle connection lost");
    const err = lines[0]!.err as Record<string, unknown>;
    expect(err).not.toHaveProperty("client");
    // pino's own words for the cause stay.
    expect(err).toMatchObject({
      message: "terminating connection: socket closed",
      code: "57P01",
      detail: { table: "users" },
    });
  });

  it("does not change the objects it is given", () => {
    const { logger } = captured();
    const request = { password: "hunter2" };
    logger.info({ request }, "x");
    expect(request.password).toBe("hunter2");
  });

  describe("to a rotated file", () => {
    const dirs: string[] = [];
    afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

    it("writes JSON lines into the file, rotating by size and keeping the newest files", async () => {
      const dir = await mkdtemp(join(tmpdir(), "tsmicro-log-"));
      dirs.push(dir);
      const logger = createLogger({
        service: "user",
        file: { path: join(dir, "logs", "user.log"), size: "1k", keep: 2 },
      });
      const files = () => readdir(join(dir, "logs"));
      const text = async () =>
        // pino-roll may delete a file between the listing and the read: a vanished file reads as empty.
        (
          await Promise.all((await files()).map((name) => readFile(join(dir, "logs", name), "utf8").catch(() => "")))
        ).join("");
      // Six batches of ten lines of about 190 bytes: pino-roll checks the size between writes.
      for (let batch = 0; batch < 6; batch++) {
        for (let i = batch * 10; i < batch * 10 + 10; i++) logger.info({ i, pad: "x".repeat(100) }, "line");
        const last = `"i":${batch * 10 + 9},`;
        await until(`line ${batch * 10 + 9} is written`, async () => (await text()).includes(last));
      }
      const names = (await files()).sort((a, b) => number(a) - number(b));
      expect(names.length).toBeGreaterThan(1);
      // The current file and the two newest before it; older ones were deleted.
      expect(names.length).toBeLessThanOrEqual(3);
      expect(number(names[0]!)).toBeGreaterThan(1);
      const lines = (await text()).trim().split("\n");
      expect(JSON.parse(lines.at(-1)!)).toMatchObject({ service: "user", i: 59, msg: "line" });
    });

    it("writes the very file named when nothing rotates it", async () => {
      const dir = await mkdtemp(join(tmpdir(), "tsmicro-log-"));
      dirs.push(dir);
      const path = join(dir, "logs", "user.log");
      const logger = createLogger({ service: "user", file: { path } });
      logger.info({ i: 1 }, "line");
      await until("the line is written", async () => (await readFile(path, "utf8").catch(() => "")).includes('"i":1'));
      expect(await readdir(join(dir, "logs"))).toEqual(["user.log"]);
    });
  });
  it("prints a caller's name (and pid, hostname, caller, timestamp) among the fields in pretty text, not as a logger name", async () => {
    const script = [
      `import { createLogger } from "@tsmicro/runtime";`,
      `const logger = createLogger({ service: "mail", format: "pretty" });`,
      `logger.info({ id: "u1", name: "ann", pid: 7, timestamp: 5 }, "welcome mail sent");`,
      `logger.child({ name: "kid" }).info("from a child");`,
    ].join("\n");
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script]);
    const [first, second] = stdout.trim().split("\n");
    // pino-pretty alone prints `INFO (ann/7): welcome mail sent {"service":"mail","id":"u1"}`.
    expect(first).toMatch(
      / INFO: welcome mail sent \{"service":"mail","id":"u1","name":"ann","pid":7,"timestamp":5\}$/,
    );
    expect(second).toMatch(/ INFO: from a child \{"service":"mail","name":"kid"\}$/);
  });

  it("prints pretty text through pino-pretty when asked, and names the package it lacks", async () => {
    const script = [
      `import { createLogger } from "@tsmicro/runtime";`,
      `createLogger({ service: "user", format: "pretty" }).info({ userName: "micro" }, "logged in");`,
    ].join("\n");
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script]);
    expect(stdout).toContain("logged in");
    // One line for the entry, its fields on it.
    expect(stdout.trim().split("\n")).toHaveLength(1);
    expect(stdout).toContain('"userName":"micro"');
    expect(() => JSON.parse(stdout.trim().split("\n")[0]!)).toThrow();
    expect(() => resolvePackage("no-such-log-transport", "the pretty log format")).toThrow(
      expect.objectContaining({
        code: "TSM_ERR_LOG_PACKAGE",
        message: expect.stringContaining("the pretty log format needs the package no-such-log-transport"),
      }),
    );
  });
});

/** Polls until `probe` holds, failing after a generous deadline. */
async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
