import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, createFileRegistry, fromBinary, type DescFile, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { isSetupError } from "@tsmicro/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { buildImage } from "../bin/cli/buf-image.js";
import { eventsNames, readEvents } from "./event-model.js";

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Compiles one proto file `name` with the event option imported, as `tsmicro generate` does. */
async function compile(body: string, name = "shop.proto"): Promise<{ file: DescFile; registry: FileRegistry }> {
  const dir = await mkdtemp(join(tmpdir(), "tsmicro-events-"));
  temps.push(dir);
  await writeFile(join(dir, name), `syntax = "proto3";\npackage shop.v1;\nimport "tsmicro/event.proto";\n${body}`);
  const image = fromBinary(FileDescriptorSetSchema, await buildImage(dir, dir));
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: image.file }));
  return { file: registry.getFile(name)!, registry };
}

function eventError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isSetupError(error) && error.code === "TSM_ERR_EVENT") return error.message;
    throw error;
  }
  throw new Error("expected TSM_ERR_EVENT");
}

describe("events from (tsmicro.event)", () => {
  it("reads topics, defaulting to the message's full name, nested messages included", async () => {
    const { file, registry } = await compile(
      `message A { option (tsmicro.event) = { topic: "a.done" }; message B { option (tsmicro.event) = {}; } }\nmessage C {}\n`,
    );
    expect(readEvents(file, registry).map((e) => [e.message.typeName, e.topic, e.path])).toEqual([
      ["shop.v1.A", "a.done", "4,0"],
      ["shop.v1.A.B", "shop.v1.A.B", "4,0,3,0"],
    ]);
  });

  it.each([
    ['{ topic: "a b" }', /topic "a b" is not usable: it contains whitespace/],
    ['{ topic: "a.*" }', /wildcards/],
    ['{ topic: "a..b" }', /empty segment/],
    ['{ topic: "$JS.API.STREAM.DELETE.X" }', /NATS reserves "\$…" subjects for itself/],
    ['{ topic: "_INBOX.a" }', /NATS reserves "_INBOX\.…" subjects for itself/],
  ])("refuses the topic %s, naming the message and the file", async (option, problem) => {
    const { file, registry } = await compile(`message A { option (tsmicro.event) = ${option}; }\n`);
    const message = eventError(() => readEvents(file, registry));
    expect(message).toMatch(/^event shop\.v1\.A in shop\.proto: /);
    expect(message).toMatch(problem);
  });

  it("refuses two events on one topic", async () => {
    const { file, registry } = await compile(
      `message A { option (tsmicro.event) = { topic: "t" }; }\nmessage B { option (tsmicro.event) = { topic: "t" }; }\n`,
    );
    expect(eventError(() => readEvents(file, registry))).toMatch(/topic "t" is also the topic of shop\.v1\.A/);
  });

  it("names the container after the file", async () => {
    expect(eventsNames((await compile("", "user_events.proto")).file)).toEqual({
      containerName: "UserEvents",
      handlerName: "UserEventsHandler",
    });
    expect(eventsNames((await compile("", "order-service.proto")).file).containerName).toBe("OrderServiceEvents");
  });
});
