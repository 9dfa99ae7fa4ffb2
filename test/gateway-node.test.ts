import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, createService, errorReasonOf, silentLogger, type MicroService } from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoMessage, Genre } from "./golden/16-gateway/gateway.js";
import { LibraryDefinition, type LibraryClient } from "./golden/16-gateway/gateway.micro.js";
import { killAllNodes, startNode, type NodeProcess } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

describe("the gateway fixture node answers with what it received", () => {
  let dir = "";
  let caller: MicroService;
  let library: LibraryClient;
  let node: NodeProcess;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gateway-node-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    node = await startNode("test/fixtures/gateway-node.ts", flags);
    caller = createService({ name: "caller", args: flags, env: suiteEnv(), logger: silentLogger() });
    library = caller.client(LibraryDefinition, "library");
  });

  afterAll(async () => {
    await caller?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("Echo round-trips every field type, through the wire and through proto3 JSON", async () => {
    const sent: EchoMessage = {
      int64Value: -9007199254740993n,
      uint64Value: 18446744073709551615n,
      sint64Value: -42n,
      int32Value: -7,
      doubleValue: 1.5,
      floatValue: 0.25,
      boolValue: true,
      genre: Genre.GENRE_HISTORY,
      bytesValue: new Uint8Array([0, 1, 254, 255]),
      stringValue: "héllo",
      int64List: [1n, -2n, 9007199254740993n],
      labels: { a: "1", b: "2" },
      book: { name: "shelves/1/books/2", title: "T", author: "A", read: true, pages: 3, genre: 1, tags: ["x"] },
      timestamp: new Date("2024-01-02T03:04:05.678Z"),
      duration: { seconds: 1n, nanos: 500_000_000 },
      fieldMask: ["title", "book.author"],
      structValue: { n: 1, s: "s", list: [true, null], nested: { k: "v" } },
      anyValue: ["a", 2],
      wrappedInt64: 0n,
      wrappedString: "",
      wrappedBool: false,
      optionalInt32: 0,
      renamedField: "renamed",
      choice: { $case: "choiceNumber", value: 0 },
    };
    // Decoded bytes may be a Buffer, which toEqual tells apart from a Uint8Array.
    const plain = (m: EchoMessage) => ({ ...m, bytesValue: [...m.bytesValue] });
    const received = await library.echo(sent);
    expect(plain(received)).toEqual(plain(sent));

    const json = EchoMessage.toJSON(received) as Record<string, unknown>;
    expect(json).toMatchObject({
      int64Value: "-9007199254740993",
      uint64Value: "18446744073709551615",
      genre: "GENRE_HISTORY",
      bytesValue: "AAH+/w==",
      timestamp: "2024-01-02T03:04:05.678Z",
      customName: "renamed",
      choiceNumber: 0,
    });
    expect(plain(EchoMessage.fromJSON(JSON.parse(JSON.stringify(json))))).toEqual(plain(sent));
  });

  it("StreamBooks yields count books (3 by default) with their index", async () => {
    const names = async (count: number) => {
      const books = [];
      for await (const book of library.streamBooks({ shelf: "s1", count })) books.push(`${book.name} ${book.pages}`);
      return books;
    };
    expect(await names(0)).toEqual(["shelves/s1/books/1 1", "shelves/s1/books/2 2", "shelves/s1/books/3 3"]);
    expect(await names(1)).toEqual(["shelves/s1/books/1 1"]);
  });

  it("Hash and HashKV answer distinguishably; bound fields come back", async () => {
    expect(await library.hash({})).toEqual({ hash: 1 });
    expect(await library.hashKV({ revision: 7n })).toEqual({ hash: 2, hashRevision: 7n });
    expect(await library.getShelf({ shelf: "a/b" })).toEqual({ name: "shelves/a/b" });
    const listed = await library.listBooks({
      shelf: "s",
      pageSize: 2,
      read: true,
      genre: Genre.GENRE_SCIENCE,
      tags: ["a", "b"],
      filter: { author: "ada", minPages: 10 },
    });
    expect(listed.totalSize).toBe(2);
    expect(listed.books[1]).toEqual({
      name: "shelves/s/books/2",
      title: "",
      author: "ada",
      read: true,
      pages: 10,
      genre: Genre.GENRE_SCIENCE,
      tags: ["a", "b"],
    });
  });

  it("Fail throws the requested status, with an ErrorInfo when given a reason", async () => {
    await expect(library.fail({ code: 0 })).resolves.toEqual({});
    await expect(library.fail({ code: Code.NOT_FOUND, message: "gone" })).rejects.toMatchObject({
      code: Code.NOT_FOUND,
      message: "gone",
    });
    const error = await library
      .fail({ code: Code.PERMISSION_DENIED, message: "no", reason: "NOT_OWNER", metadata: { id: "7" } })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: Code.PERMISSION_DENIED, message: "no" });
    expect(errorReasonOf(error)).toEqual({ reason: "NOT_OWNER", domain: "fixtures.gateway.v1", metadata: { id: "7" } });
  });

  it("Whoami names the node and the x- metadata it received", async () => {
    const reply = await library.whoami({}, { metadata: { "x-jwt-sub": "ada" } });
    expect(reply.nodeId).toBe(node.id);
    expect(reply.metadataKeys).toContain("x-jwt-sub");
    expect(reply.metadataKeys).toEqual([...reply.metadataKeys].sort());
    expect(reply.metadata).toEqual({ "x-jwt-sub": "ada" });
  });
});
