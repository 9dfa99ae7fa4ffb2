/**
 * Publish -> receive through the brokers, against the raw `nats` client
 * doing the same directly: messages per second and p50/p99 latency for the
 * embedded http broker, core NATS and JetStream, each through tsmicro's
 * broker and raw, rounds alternating. Needs nats-server for the NATS rows
 * (skipped with a line without it). Run: `node --import tsx bench/broker.ts`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "nats";
import type { Broker } from "../runtime/src/broker/broker.js";
import { createHttpBroker } from "../runtime/src/broker/http-broker.js";
import { createNatsBroker } from "../runtime/src/broker/nats-broker.js";
import { createLocalRegistry } from "../runtime/src/registry/local-registry.js";
import { natsProgram, startNatsServer } from "../test/support/nats.js";

const messages = 2_000;
/** Publishes in flight at once, so a publish that waits for the server does not make the run latency-bound alone. */
const window = 64;
const rounds = 3;

interface Result {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
}

/** One way to publish and receive: `publish` sends a body, `onReceive` is called with each received body. */
interface Setup {
  readonly name: string;
  open(
    onReceive: (body: Uint8Array) => void,
  ): Promise<{ publish(body: Uint8Array): Promise<void>; close(): Promise<void> }>;
}

/** Sends `messages` bodies stamped with their send time and measures until the last arrives. */
async function measure(setup: Setup): Promise<Result> {
  const latencies: number[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const link = await setup.open((body) => {
    const sentAt = Number(Buffer.from(body).readBigInt64BE(0));
    latencies.push(Number(process.hrtime.bigint() - BigInt(sentAt)) / 1e6);
    if (latencies.length === messages) done();
  });
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < messages) {
      next++;
      const body = Buffer.alloc(64);
      body.writeBigInt64BE(process.hrtime.bigint(), 0);
      await link.publish(body);
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  await all;
  const seconds = (performance.now() - started) / 1000;
  await link.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { perSecond: messages / seconds, p50: at(0.5), p99: at(0.99) };
}

/** A setup through one of tsmicro's brokers: one publishing and one subscribing broker, as two services would have. */
function throughBroker(name: string, make: () => Broker): Setup {
  return {
    name,
    async open(onReceive) {
      const [publisher, subscriber] = [make(), make()];
      await publisher.start();
      await subscriber.start();
      const topic = `bench.${Math.random().toString(36).slice(2)}`;
      await subscriber.subscribe(topic, (message) => onReceive(message.body), { queue: "bench", concurrency: 64 });
      return {
        publish: (body) => publisher.publish(topic, body),
        close: async () => {
          await publisher.stop();
          await subscriber.stop();
        },
      };
    },
  };
}

function rawCore(url: string): Setup {
  return {
    name: "raw nats core",
    async open(onReceive) {
      const pub: NatsConnection = await connect({ servers: url });
      const sub: NatsConnection = await connect({ servers: url });
      const topic = `bench.${Math.random().toString(36).slice(2)}`;
      sub.subscribe(topic, { queue: "bench", callback: (_error, message) => onReceive(message.data) });
      await sub.flush();
      return {
        publish: async (body) => pub.publish(topic, body),
        close: async () => {
          await pub.drain();
          await sub.drain();
        },
      };
    },
  };
}

function rawJetStream(url: string): Setup {
  return {
    name: "raw nats jetstream",
    async open(onReceive) {
      const nats = await import("nats");
      const [pub, sub] = await Promise.all([connect({ servers: url }), connect({ servers: url })]);
      const topic = `bench.${Math.random().toString(36).slice(2)}`;
      const jsm = await pub.jetstreamManager();
      const stream = topic.replace(/\./g, "_");
      await jsm.streams.add({ name: stream, subjects: [topic] });
      await jsm.consumers.add(stream, { durable_name: "bench", ack_policy: nats.AckPolicy.Explicit });
      const consumer = await sub.jetstream().consumers.get(stream, "bench");
      const iterator = await consumer.consume({ max_messages: 64 });
      const loop = (async () => {
        for await (const message of iterator) {
          message.ack();
          onReceive(message.data);
        }
      })();
      const js = pub.jetstream();
      return {
        publish: async (body) => void (await js.publish(topic, body)),
        close: async () => {
          iterator.stop();
          await loop;
          await pub.drain();
          await sub.drain();
        },
      };
    },
  };
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** Runs every setup `rounds` times, alternating, and prints the medians. */
export async function benchBroker(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "tsmicro-bench-broker-"));
  const registry = createLocalRegistry({ dir: join(root, "registry") });
  await registry.start();
  const server = natsProgram ? await startNatsServer({ jetstream: true }) : undefined;
  try {
    const setups: Setup[] = [throughBroker("http broker (embedded)", () => createHttpBroker({ registry }))];
    if (server) {
      const servers = [server.url];
      setups.push(
        throughBroker("nats broker, core", () => createNatsBroker({ servers })),
        rawCore(server.url),
        throughBroker("nats broker, jetstream", () => createNatsBroker({ servers, jetstream: {} })),
        rawJetStream(server.url),
      );
    }
    const results = new Map<string, Result[]>(setups.map((s) => [s.name, []]));
    for (let round = 0; round < rounds; round++)
      for (const setup of setups) results.get(setup.name)!.push(await measure(setup));

    console.log(`broker: ${messages} messages of 64 bytes, ${window} publishes in flight, median of ${rounds} rounds`);
    for (const [name, list] of results)
      console.log(
        `  ${name.padEnd(26)} ${median(list.map((r) => r.perSecond))
          .toFixed(0)
          .padStart(7)} msg/s  ` +
          `p50 ${median(list.map((r) => r.p50)).toFixed(2)} ms  p99 ${median(list.map((r) => r.p99)).toFixed(2)} ms`,
      );
  } finally {
    await server?.stop();
    await registry.stop();
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchBroker();
