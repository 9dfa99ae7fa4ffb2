import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalRegistry } from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bins, repoRoot, run } from "./support/cli.js";
import { waitFor } from "./support/load.js";
import { killAllNodes, killLeavingRegistration, startNode, type NodeProcess } from "./support/nodes.js";

describe("tsmicro list/get/call/health against running services", () => {
  let dir = "";
  let nodes: NodeProcess[] = [];
  const tsmicro = (...args: string[]) =>
    run("node", [bins.tsmicro, ...args, "--registry", "local", "--registry_address", dir]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-cli-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    nodes = await Promise.all([
      startNode("test/fixtures/echo-node.ts", flags),
      startNode("test/fixtures/echo-node.ts", flags),
    ]);
  });

  afterAll(async () => {
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("list services names the running service", async () => {
    const result = await tsmicro("list", "services");
    expect(result).toMatchObject({ code: 0, stdout: "echo\n" });
  });

  it("get service shows nodes, addresses and endpoints", async () => {
    const result = await tsmicro("get", "service", "echo");
    expect(result.code, result.stderr).toBe(0);
    for (const node of nodes) expect(result.stdout).toContain(`${node.id}\t${node.address}\t`);
    expect(result.stdout).toContain("version 1.0.0");
    expect(result.stdout).toMatch(
      /Endpoint: Alpha\.Unary\nMetadata: [^\n]*kind=unary\b[^\n]*\n\nRequest: fixtures\.services\.v1\.Request\n\nResponse: fixtures\.services\.v1\.Response/,
    );
    // Whether a method streams, and which way, as micro get service shows stream=true.
    expect(result.stdout).toMatch(/Endpoint: Alpha\.BidiStream\nMetadata: [^\n]*kind=bidi_streaming/);
  });

  it("call sends proto3 JSON and prints the proto3 JSON response, knowing only the service name", async () => {
    const result = await tsmicro("call", "echo", "Alpha.Unary", '{"id":"hi","payload":"AQI="}');
    expect(result.code, result.stderr).toBe(0);
    const response = JSON.parse(result.stdout) as { id: string; payload: string };
    expect(nodes.map((n) => n.id)).toContain(response.id);
    expect(response.payload).toBe("AQI=");
  });

  it("call takes --transport as a service does (the client's wire), and names a bad value", async () => {
    const result = await tsmicro("call", "echo", "Alpha.Unary", '{"id":"hi"}', "--transport=grpc");
    expect(result.code, result.stderr).toBe(0);
    expect(nodes.map((n) => n.id)).toContain((JSON.parse(result.stdout) as { id: string }).id);
    const bad = await tsmicro("call", "echo", "Alpha.Unary", '{"id":"hi"}', "--transport=pigeon");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--transport.*pigeon/);
  });

  it("call sends --metadata KEY=VALUE with the call: keys lower-cased, a repeated key twice, a -bin key as bytes", async () => {
    const echoed = async (key: string, ...flags: string[]) => {
      const result = await tsmicro("call", "echo", "Alpha.Unary", `{"id":"metadata:${key}"}`, ...flags);
      expect(result.code, result.stderr).toBe(0);
      const response = JSON.parse(result.stdout) as { payload?: string; sequence?: number };
      return { text: Buffer.from(response.payload ?? "", "base64").toString(), count: response.sequence ?? 0 };
    };
    expect(await echoed("x-tenant", "--metadata", "X-Tenant=acme")).toEqual({ text: "acme", count: 1 });
    // Both values arrive, in order; the server reads a repeated header as HTTP/2 does, joined by ", ".
    expect(await echoed("x-tag", "--metadata", "x-tag=a", "--metadata", "x-tag=b=c")).toEqual({
      text: "a, b=c",
      count: 1,
    });
    expect(await echoed("x-key-bin", `--metadata=x-key-bin=${Buffer.from("\u0001raw").toString("base64")}`)).toEqual({
      text: "\u0001raw",
      count: 1,
    });
  });

  it("call refuses --metadata it cannot send, saying how to write it, before calling", async () => {
    for (const [flag, says] of [
      ["tenant", "give it as KEY=VALUE"],
      ["grpc-timeout=1S", "grpc-timeout is gRPC's or HTTP/2's own header"],
      ["x tenant=a", "only letters, digits and - _ ."],
      ["x-name=Zoë", "printable ASCII"],
      ["x-id-bin=not base64!", "base64"],
    ] as const) {
      const result = await tsmicro("call", "echo", "Alpha.Unary", "{}", "--metadata", flag);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`--metadata ${JSON.stringify(flag)}: `);
      expect(result.stderr).toContain(says);
      expect(result.stdout).toBe("");
    }
  });

  it("call reads the request from standard input for -, and from a file for @FILE", async () => {
    const piped = await run(
      "node",
      [bins.tsmicro, "call", "echo", "Alpha.Unary", "-", "--registry", "local", "--registry_address", dir],
      { input: Buffer.from('{"id":"hi","payload":"AQI="}') },
    );
    expect(piped.code, piped.stderr).toBe(0);
    expect(JSON.parse(piped.stdout)).toMatchObject({ payload: "AQI=" });
    const file = join(dir, "request.json");
    await writeFile(file, '{"payload":"AwQ="}');
    const fromFile = await tsmicro("call", "echo", "Alpha.Unary", `@${file}`);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(JSON.parse(fromFile.stdout)).toMatchObject({ payload: "AwQ=" });
    const missing = await tsmicro("call", "echo", "Alpha.Unary", `@${file}.gone`);
    expect(missing).toMatchObject({ code: 1, stdout: "" });
    expect(missing.stderr).toContain(`cannot read the request from ${file}.gone: no such file`);
  });

  it("call prints each message of a server stream", async () => {
    const result = await tsmicro("call", "echo", "/fixtures.services.v1.Alpha/ServerStream", '{"id":"s"}');
    expect(result.code, result.stderr).toBe(0);
    const docs = result.stdout
      .trim()
      .split(/\n(?=\{)/)
      .map((doc) => JSON.parse(doc) as { sequence: number });
    expect(docs.map((d) => d.sequence)).toEqual([1, 2, 3]);
  });

  it("a server stream past --client_stream_timeout fails DEADLINE_EXCEEDED naming that flag", async () => {
    const stream = "/fixtures.services.v1.Alpha/ServerStream";
    const result = await tsmicro("call", "echo", stream, '{"id":"sleep:400"}', "--client_stream_timeout=600ms");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tsmicro: call failed: DEADLINE_EXCEEDED: .*\(--client_stream_timeout\)\n$/);
    // What came before the deadline was printed.
    expect(result.stdout).toContain('"sequence": 1');
  });

  it("call stops quietly when its output's reader has gone (piped into head)", async () => {
    const child = spawn(
      process.execPath,
      [
        bins.tsmicro,
        "call",
        "echo",
        "/fixtures.services.v1.Alpha/ServerStream",
        '{"id":"s"}',
        "--registry",
        "local",
      ].concat(["--registry_address", dir]),
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    // The reader closes before the first message: every write of the command meets a closed pipe.
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  });

  it("call takes a JSON array for a client stream", async () => {
    const result = await tsmicro("call", "echo", "Alpha.ClientStream", '[{"data":"AAA="},{"data":"AAAA"}]');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ totalBytes: "5", chunkCount: 2 });
  });

  it("call keeps an int64 written as a JSON number past 2^53 exact, as the gateway does", async () => {
    const library = await startNode("test/fixtures/gateway-node.ts", ["--registry=local", `--registry_address=${dir}`]);
    try {
      const result = await tsmicro(
        "call",
        "library",
        "Library.Echo",
        '{"int64Value": -9007199254740993, "uint64Value": 18446744073709551615, "int32Value": 7}',
      );
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({
        int64Value: "-9007199254740993",
        uint64Value: "18446744073709551615",
        int32Value: 7,
      });
    } finally {
      library.kill("SIGTERM");
      await library.exited;
    }
  });

  it("call with malformed JSON fails clearly with status 1", async () => {
    const result = await tsmicro("call", "echo", "Alpha.Unary", "{id:");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'tsmicro: the request is not valid JSON at line 1, column 2: expected a "quoted" property name, found "i"\n',
    );
  });

  it("call with a key written twice refuses it, naming both places, as the gateway does (JSON.parse keeps the last)", async () => {
    const result = await tsmicro("call", "echo", "Alpha.Unary", '{"id": "a",\n "id": "b"}');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'tsmicro: the request has the key "id" twice in one object, at line 2, column 2 and first at line 1, column 2; ' +
        "only one would count: send it once\n",
    );
  });

  it("call of an unknown method names the methods there are", async () => {
    const result = await tsmicro("call", "echo", "Alpha.Nope", "{}");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "fixtures.services.v1.Alpha has no method Nope; it has Unary, ServerStream, ClientStream, BidiStream",
    );
  });

  it("call of a method under a service name the service lacks names the Service.Method it registered", async () => {
    const result = await tsmicro("call", "echo", "Echo.Unary", "{}");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("tsmicro: echo has no service Echo; write the method as Alpha.Unary\n");
  });

  it("call of a method named without its service names the Service.Method the service registered", async () => {
    const result = await tsmicro("call", "echo", "Unary", "{}");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('method "Unary": write it as Service.Method, here Alpha.Unary');
  });

  it("call refuses a Service.Method two packages' services both match, naming both, before calling", async () => {
    // Registered by hand: the refusal comes from the endpoints alone, so nothing needs to listen there.
    const registry = createLocalRegistry({ dir });
    const endpoint = (service: string) => ({
      name: "Catalog.GetItem",
      request: `${service.slice(0, service.lastIndexOf("."))}.Item`,
      response: `${service.slice(0, service.lastIndexOf("."))}.Item`,
      metadata: { service },
    });
    const two = {
      name: "two",
      version: "1.0.0",
      metadata: {},
      endpoints: [endpoint("acme.shop.v1.Catalog"), endpoint("acme.other.v1.Catalog")],
      nodes: [{ id: "two-1", address: "127.0.0.1:9", metadata: {} }],
    };
    await registry.start();
    await registry.register(two, { ttlMs: 60_000 });
    try {
      const result = await tsmicro("call", "two", "Catalog.GetItem", "{}");
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        "tsmicro: Catalog.GetItem is ambiguous: acme.shop.v1.Catalog and acme.other.v1.Catalog both match; " +
          "name one in full, such as acme.shop.v1.Catalog.GetItem\n",
      );
    } finally {
      await registry.deregister(two);
      await registry.stop();
    }
  });

  it("a --client_request_timeout too short to ask for the method's types fails as DEADLINE_EXCEEDED", async () => {
    const result = await tsmicro("call", "echo", "Alpha.Unary", '{"id":"sleep:3000"}', "--client_request_timeout=1ms");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tsmicro: call failed: DEADLINE_EXCEEDED: echo[: ]/);
  });

  it("call with fields the request type lacks fails clearly", async () => {
    const result = await tsmicro("call", "echo", "Alpha.Unary", '{"nope":1}');
    expect(result.code).toBe(1);
    // The key that names no field, and the fields there are; the field meant, when the key is close to one.
    expect(result.stderr).toBe(
      "tsmicro: the request does not fit fixtures.services.v1.Request: at nope (1): " +
        "fixtures.services.v1.Request has no field nope; its fields are id, payload\n",
    );
    const slip = await tsmicro("call", "echo", "Alpha.Unary", '{"ids":"a"}');
    expect(slip.stderr).toBe(
      'tsmicro: the request does not fit fixtures.services.v1.Request: at ids ("a"): ' +
        "fixtures.services.v1.Request has no field ids; did you mean id?\n",
    );
    // A value of the wrong type is named by its place in the request, as the gateway names it.
    const wrong = await tsmicro("call", "echo", "Alpha.Unary", '{"id":5}');
    expect(wrong.stderr).toMatch(/^tsmicro: the request does not fit fixtures\.services\.v1\.Request: at id \(5\): /);
    const array = await tsmicro("call", "echo", "Alpha.Unary", "[1]");
    expect(array.code).toBe(1);
    expect(array.stderr).toBe(
      "tsmicro: the request must be a JSON object of fixtures.services.v1.Request's fields, not an array\n",
    );
  });

  it("call of a service nobody registered fails clearly", async () => {
    const result = await tsmicro("call", "ghost", "Alpha.Unary", "{}");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "tsmicro: call failed: NOT_FOUND: service ghost not found in the local registry; registered: echo\n",
    );
    // A slip of a registered name names it.
    const slip = await tsmicro("health", "ecoh");
    expect(slip.stderr).toBe("tsmicro: service ecoh not found in the local registry: did you mean echo?\n");
  });

  it("tsmicro api --help lists every flag of docs/gateway.md's table, and where the service flags are", async () => {
    const doc = await readFile(join(repoRoot, "docs/gateway.md"), "utf8");
    const table = doc.slice(doc.indexOf("## Flags"), doc.indexOf("## Related"));
    const flags = [...table.matchAll(/^\| (.+?) \|/gm)].flatMap((row) =>
      [...row[1]!.matchAll(/`(--\w+)`/g)].map((m) => m[1]!),
    );
    expect(flags.length).toBeGreaterThan(15);
    const help = await tsmicro("api", "--help");
    for (const flag of flags) expect(help.stdout, flag).toContain(`${flag} `);
    expect(help.stdout).toContain("--client_* and --breaker_*");
    // What it serves besides the services' routes, /healthz among them (docs/gateway.md's health section).
    const words = help.stdout.replace(/\s+/g, " ");
    expect(words).toContain("/openapi.json (as micro api), and /healthz, its health for probes");
    expect(words).toContain("on SIGTERM or SIGINT, answer 503 on /healthz");
  });

  it("an etcd endpoint given to the local registry is refused, and no folder of its name is made", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "tsmicro-cli-local-"));
    try {
      const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(TSMICRO|MICRO)_/.test(name)));
      const result = await run("node", [bins.tsmicro, "list", "services", "--registry_address=127.0.0.1:2379"], {
        cwd,
        env,
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        'tsmicro: --registry_address has an invalid value "127.0.0.1:2379": the local registry (--registry local, ' +
          "the default) takes one folder, and this is an etcd endpoint; add --registry=etcd to use etcd, or give a folder\n",
      );
      expect(await readdir(cwd)).toEqual([]);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it("tsmicro web --help says where the dashboard serves its /metrics", async () => {
    const help = (await tsmicro("web", "--help")).stdout.replace(/\s+/g, " ");
    expect(help).toContain(
      "--metrics_address (/metrics on the HTTP port by default; HOST:PORT serves it there instead, off not at all)",
    );
  });

  it("a command missing its arguments points to its help, and a misspelt command to the one meant", async () => {
    const short = await tsmicro("call", "echo");
    expect(short.code).toBe(1);
    expect(short.stderr).toBe(
      "tsmicro: tsmicro call takes SERVICE METHOD [JSON], such as tsmicro call user UserService.ListUsers '{}'; " +
        "see tsmicro call --help\n",
    );
    const misspelt = await tsmicro("lst", "services");
    expect(misspelt.code).toBe(1);
    expect(misspelt.stderr).toBe("tsmicro: unknown command lst: did you mean list?\n");
    const group = await tsmicro("config", "sett", "x", "1");
    expect(group.stderr).toBe("tsmicro: unknown command config sett: did you mean config set?\n");
    // A flag one slip from a known one names it; a dashed spelling, without yargs' camelCase twin.
    const flag = await tsmicro("list", "services", "--registy=local");
    expect(flag.code).toBe(1);
    expect(flag.stderr).toBe("tsmicro: unknown flag --registy: did you mean --registry?\n");
    const dashed = await tsmicro("call", "echo", "Alpha.Unary", "--client-retries", "3");
    expect(dashed.stderr).toBe("tsmicro: unknown flag --client-retries: did you mean --client_retries?\n");
    const far = await tsmicro("list", "services", "--colour=red");
    expect(far.stderr).toBe("tsmicro: unknown flag --colour; see tsmicro list services --help\n");
    // The second word of a two-word command is fixed: a slip there lists nothing.
    const second = await tsmicro("list", "servics");
    expect(second.code).toBe(1);
    expect(second.stdout).toBe("");
    expect(second.stderr).toBe("tsmicro: unknown command list servics: did you mean list services?\n");
    const nameless = await tsmicro("get", "service");
    expect(nameless.stderr).toBe(
      "tsmicro: tsmicro get service takes NAME, such as tsmicro get service user; see tsmicro get service --help\n",
    );
    // Words past a command's own say what it takes, not yargs' "Unknown argument: extra".
    const extra = await tsmicro("list", "services", "extra");
    expect(extra.code).toBe(1);
    expect(extra.stderr).toBe(
      "tsmicro: tsmicro list services takes no other words; extra is one word too many; see tsmicro list services --help\n",
    );
    expect((await tsmicro("get", "service", "user", "x", "y")).stderr).toBe(
      "tsmicro: tsmicro get service takes NAME, such as tsmicro get service user; x y are 2 words too many; see tsmicro get service --help\n",
    );
    // A group named alone says its second word, not yargs' count of arguments.
    expect((await tsmicro("list")).stderr).toBe(
      "tsmicro: tsmicro list takes the word services: tsmicro list services; see tsmicro list --help\n",
    );
    expect((await tsmicro("get")).stderr).toBe(
      "tsmicro: tsmicro get takes service NAME, such as tsmicro get service user; see tsmicro get --help\n",
    );
    const newless = await tsmicro("new");
    expect(newless.stderr).toBe("tsmicro: tsmicro new takes NAME, such as tsmicro new user; see tsmicro new --help\n");
    const get = await tsmicro("get", "servic", "echo");
    expect(get.code).toBe(1);
    expect(get.stderr).toBe("tsmicro: unknown command get servic: did you mean get service?\n");
  });

  it("a word that is no command, or none of a group's, is named with the commands there, not a far guess", async () => {
    // Far from every command: no "did you mean new?" (yargs recommends anything within three edits).
    const far = await tsmicro("foo");
    expect(far.code).toBe(1);
    expect(far.stderr).toBe("tsmicro: unknown command foo; see tsmicro --help\n");
    expect((await tsmicro("xyzabc")).stderr).toBe("tsmicro: unknown command xyzabc; see tsmicro --help\n");
    // A group's unknown word answers like the group named alone, not yargs' "Unknown argument: bogus".
    expect((await tsmicro("config", "bogus")).stderr).toBe(
      "tsmicro: no config command bogus: name one of get, set, del, watch or import\n",
    );
    expect((await tsmicro("config", "xyz", "extra")).stderr).toBe(
      "tsmicro: no config command xyz: name one of get, set, del, watch or import\n",
    );
    expect((await tsmicro("template", "bogus")).stderr).toBe(
      "tsmicro: no template command bogus: name init or revert\n",
    );
    expect((await tsmicro("template", "initt")).stderr).toBe(
      "tsmicro: unknown command template initt: did you mean template init?\n",
    );
    const list = await tsmicro("list", "bogus");
    expect(list.code).toBe(1);
    expect(list.stdout).toBe("");
    expect(list.stderr).toBe("tsmicro: no list command bogus: name services\n");
    expect((await tsmicro("get", "bogus", "echo")).stderr).toBe("tsmicro: no get command bogus: name service\n");
    // The commands a slip is measured against are those --help lists.
    const { commandWords } = await import("../bin/cli/fail.js");
    const help = (await tsmicro("--help")).stdout;
    const listed = [...help.matchAll(/^ {2}tsmicro ([\w-]+)/gm)].map((m) => m[1]);
    expect([...new Set(listed)]).toEqual(commandWords);
  });

  it("health reports every node SERVING", async () => {
    const result = await tsmicro("health", "echo");
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/\tSERVING$/);
  });
});

describe("tsmicro health and call on a web service (HTTP, registered with protocol http)", () => {
  let dir = "";
  let site: NodeProcess;
  const tsmicro = (...args: string[]) =>
    run("node", [bins.tsmicro, ...args, "--registry", "local", "--registry_address", dir]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-cli-web-"));
    site = await startNode("test/fixtures/web-node.ts", ["--registry=local", `--registry_address=${dir}`]);
  });

  afterAll(async () => {
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("health asks the node over HTTP: SERVING, not a gRPC protocol error", async () => {
    const result = await tsmicro("health", "site");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${site.id}\t${site.address}\tSERVING\n`);
    // Nothing but the service's own lines: no warning from fastify (such as a deprecated option).
    expect(site.output()).not.toMatch(/Warning|Deprecation/);
  });

  it("call says it is a web service and how to reach it, in one line", async () => {
    const result = await tsmicro("call", "site", "Site.Get", "{}");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `tsmicro: site is a web service: it answers HTTP, not gRPC calls; request it at http://${site.address}/ ` +
        "or through the gateway, tsmicro api --handler web\n",
    );
  });

  it("call of tsmicro.broker says it is the embedded broker's registration of subscribers, not a web service", async () => {
    // Registered by hand as the http broker registers a subscription (docs/broker.md): an HTTP node with metadata broker.
    const registry = createLocalRegistry({ dir });
    const broker = {
      name: "tsmicro.broker",
      version: "",
      metadata: {},
      endpoints: [],
      nodes: [
        {
          id: "sub-1",
          address: "127.0.0.1:9",
          metadata: { protocol: "http", broker: "http", topic: "order.placed", path: "/sub-1" },
        },
      ],
    };
    await registry.start();
    await registry.register(broker, { ttlMs: 60_000 });
    try {
      const result = await tsmicro("call", "tsmicro.broker", "X.Y", "{}");
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        "tsmicro: tsmicro.broker is the embedded broker's registration of subscribers (docs/broker.md), not a service to call\n",
      );
    } finally {
      await registry.deregister(broker);
      await registry.stop();
    }
  });
});

/** Text grpc-js writes that a user must never see from tsmicro's commands. */
const libraryText = /No connection established|Last error|Resolution note|Deadline exceeded|ECONNREFUSED|at .*\.js:\d+/;

describe("tsmicro call and health after kill -9 of one of two nodes", () => {
  let dir = "";
  let alive: NodeProcess;
  let dead: NodeProcess;
  const tsmicro = (...args: string[]) =>
    run("node", [bins.tsmicro, ...args, "--registry", "local", "--registry_address", dir]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-cli-kill-"));
    // A long TTL, so the dead node stays registered for the whole test, as it would for up to 30 s by default.
    const flags = ["--registry=local", `--registry_address=${dir}`, "--register_ttl=300", "--register_interval=60"];
    [alive, dead] = await Promise.all([
      startNode("test/fixtures/echo-node.ts", flags),
      startNode("test/fixtures/echo-node.ts", flags),
    ]);
    // As a node of another container sharing the folder is, or one an older tsmicro registered: a
    // reader here would drop a node whose process it sees gone at once.
    await killLeavingRegistration(dead, dir, "echo");
  });

  afterAll(async () => {
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("20 calls in a row all succeed while the dead node is still registered", async () => {
    const failures: string[] = [];
    for (let i = 0; i < 20; i++) {
      const result = await tsmicro("call", "echo", "Alpha.Unary", `{"id":"run ${i}"}`);
      if (result.code !== 0) failures.push(`run ${i}: ${result.stderr}`);
      else expect(JSON.parse(result.stdout)).toMatchObject({ id: alive.id });
    }
    expect(failures).toEqual([]);
    // Had the dead node's registration lapsed, the calls above would prove nothing.
    const listed = await tsmicro("get", "service", "echo");
    expect(listed.stdout).toContain(`${dead.id}\t${dead.address}\t`);
  });

  it("client and bidi streams, which the runtime sends once, are sent again when the first node refused the connection", async () => {
    const failures: string[] = [];
    for (let i = 0; i < 10; i++) {
      const result =
        i % 2 === 0
          ? await tsmicro("call", "echo", "Alpha.ClientStream", '[{"data":"AAA="}]')
          : await tsmicro("call", "echo", "Alpha.BidiStream", `[{"id":"b${i}"}]`);
      if (result.code !== 0) failures.push(`run ${i}: ${result.stderr}`);
    }
    expect(failures).toEqual([]);
  });

  it("health reports each node on one line, the dead one with a sentence, and exits 1", async () => {
    const result = await tsmicro("health", "echo");
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines).toContain(`${alive.id}\t${alive.address}\tSERVING`);
    const deadLine = lines.find((line) => line.startsWith(`${dead.id}\t`));
    expect(deadLine).toBe(
      `${dead.id}\t${dead.address}\tUNAVAILABLE: connection refused at ${dead.address}: nothing listens there (the node may have died without deregistering)`,
    );
    expect(result.stderr).toBe("tsmicro: health check failed: 1 of 2 nodes of echo is not serving\n");
    expect(result.stdout + result.stderr).not.toMatch(libraryText);
  });

  it("takes the --client_* flags: a short --client_request_timeout fails as DEADLINE_EXCEEDED in one line", async () => {
    const result = await tsmicro(
      "call",
      "echo",
      "Alpha.Unary",
      '{"id":"sleep:3000"}',
      "--client_request_timeout=300ms",
    );
    expect(result.code).toBe(1);
    // The node's address when the call reached it; on a loaded machine the
    // 300 ms can run out while still connecting, before there is one.
    expect(result.stderr).toMatch(
      /^tsmicro: call failed: DEADLINE_EXCEEDED: echo Alpha\.Unary: no answer from (\S+|the node) within 300 ms \(--client_request_timeout\)\n$/,
    );
    expect(result.stderr).not.toMatch(libraryText);
  });

  it("a bad --client_* value is one line naming the flag", async () => {
    const result = await tsmicro("call", "echo", "Alpha.Unary", "{}", "--client_retries=-1");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tsmicro: [^\n]*--client_retries[^\n]*\n$/);
  });

  it("with every node dead, call fails as UNAVAILABLE with a sentence, never library text", async () => {
    alive.kill("SIGKILL");
    await alive.exited;
    const result = await tsmicro("call", "echo", "Alpha.Unary", "{}");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tsmicro: call failed: UNAVAILABLE: echo: [^\n]*connection refused at [^\n]+\n$/);
    expect(result.stderr).not.toMatch(libraryText);
  });
});

describe("running services whose local registry folder was removed (rm -rf, a cleaner of XDG_RUNTIME_DIR)", () => {
  let root = "";
  let dir = "";
  const tsmicro = (...args: string[]) =>
    run("node", [bins.tsmicro, ...args, "--registry", "local", "--registry_address", dir]);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "tsmicro-cli-removed-"));
    dir = join(root, "registry");
  });

  afterAll(async () => {
    await killAllNodes();
    await rm(root, { recursive: true, force: true });
  });

  /** The expiry its process last wrote in the node's file, or undefined while there is none. */
  async function expiryOf(service: string, node: NodeProcess): Promise<number | undefined> {
    try {
      return (JSON.parse(await readFile(join(dir, service, `${node.id}.json`), "utf8")) as { expiresAt: number })
        .expiresAt;
    } catch {
      return undefined;
    }
  }

  it("register again with their next heartbeat, making the folder again, and each says so in one warning", async () => {
    // A TTL far past the test's end: a node found again was written again by its process, not left over.
    const flags = ["--registry=local", `--registry_address=${dir}`, "--register_ttl=600", "--register_interval=1"];
    const services = { echo: {}, other: { ECHO_NAME: "other" } };
    const nodes = await Promise.all(
      Object.values(services).map((env) => startNode("test/fixtures/echo-node.ts", flags, env)),
    );
    const named = Object.keys(services).map((service, i) => ({ service, node: nodes[i]! }));
    expect(await tsmicro("list", "services")).toMatchObject({ code: 0, stdout: "echo\nother\n" });

    await rm(root, { recursive: true });
    // Waits on the files, not on tsmicro: its registry would make the folder itself.
    for (const { service, node } of named)
      await waitFor(`${service}'s node file`, async () => (await expiryOf(service, node)) !== undefined, 20_000);

    expect(await tsmicro("list", "services")).toMatchObject({ code: 0, stdout: "echo\nother\n" });
    const call = await tsmicro("call", "echo", "Alpha.Unary", '{"id":"back"}');
    expect(call.code, call.stderr).toBe(0);
    expect(JSON.parse(call.stdout)).toMatchObject({ id: nodes[0]!.id });
    // Two heartbeats more, each rewriting its file: still one warning per process, not one per heartbeat.
    for (const { service, node } of named) {
      for (let beat = 0; beat < 2; beat++) {
        const before = await expiryOf(service, node);
        await waitFor(
          `${service}'s heartbeat`,
          async () => ((await expiryOf(service, node)) ?? 0) > (before ?? 0),
          20_000,
        );
      }
      const warnings = node.output().match(/^.*local registry: the folder .*? was removed.*$/gm) ?? [];
      expect(warnings, node.output()).toHaveLength(1);
      // The service it registered again is a field of its own: `service` is the process's, once per line.
      expect(warnings[0]!.match(/"service":/g)).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, service, registeredService: service });
    }
  });
});

describe("tsmicro list services on an empty registry", () => {
  it("prints one line and exits 0", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-cli-empty-"));
    try {
      const result = await run("node", [
        bins.tsmicro,
        "list",
        "services",
        "--registry",
        "local",
        "--registry_address",
        dir,
      ]);
      expect(result).toEqual({ code: 0, stdout: "no services registered\n", stderr: "" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("tsmicro error lines", () => {
  it("never print a password given in a URL, on the command line or in a variable", async () => {
    // A port that is no number: refused before anything is sent, and the line quotes the endpoint, its user taken off.
    const address = "http://app:hunter2@127.0.0.1:notaport";
    const config = await run("node", [bins.tsmicro, "config", "get", "--service", "x", "--registry_address", address]);
    expect(config.code).toBe(1);
    expect(config.stderr).toBe(
      'tsmicro: --registry_address has an invalid value "http://127.0.0.1:notaport": use host:port, ' +
        "such as 127.0.0.1:2379 or http://etcd-1:2379, or a host alone for port 2379\n",
    );
    const list = await run("node", [bins.tsmicro, "list", "services", "--registry", "etcd"], {
      env: { ...process.env, TSMICRO_REGISTRY_ADDRESS: address },
    });
    expect(list.code).toBe(1);
    expect(list.stderr).toContain('TSMICRO_REGISTRY_ADDRESS has an invalid value "http://127.0.0.1:notaport"');
    expect(list.stderr).not.toContain("hunter2");
  });
});
