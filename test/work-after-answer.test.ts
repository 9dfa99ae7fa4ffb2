/**
 * What work a handler does not wait for inherits of the call it serves, with real services
 * calling each other over the suite's transport (CI runs it on both): a job the handler leaves
 * running after it answers keeps the call's passed-on metadata, but its calls are not cut at the
 * served call's deadline: nobody waits for them.
 */
import {
  Code,
  createMemoryBroker,
  createMemoryRegistry,
  createService,
  silentLogger,
  type Broker,
  type CallContext,
  type MicroService,
  type Registry,
  withoutCancel,
} from "@tsmicro/runtime";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Request, Response } from "./golden/10-services/services.js";
import { AlphaDefinition, type AlphaClient } from "./golden/10-services/services.micro.js";
import { OrdersEvents } from "./golden/18-events/shop/v1/orders.micro.js";
import { waitFor } from "./support/load.js";
import { natsProgram, startNatsServer, type NatsServer } from "./support/nats.js";
import { suiteEnv } from "./support/suite-env.js";

/** The services made so far, which each suite stops after its tests. */
const started: MicroService[] = [];

async function stopStarted(): Promise<void> {
  for (const service of started.splice(0).reverse()) await service.stop();
}

/** Options of the services a test makes: its registry (and broker), tracing on or off, the suite's wire. */
interface Setup {
  readonly registry: Registry;
  readonly broker?: Broker;
  readonly args?: readonly string[];
  readonly traced: boolean;
}

function serviceOf(name: string, setup: Setup): MicroService {
  const service = createService({
    name,
    registry: setup.registry,
    ...(setup.broker ? { broker: setup.broker } : {}),
    args: ["--metrics_address=off", ...(setup.args ?? [])],
    env: suiteEnv(setup.traced ? {} : { OTEL_SDK_DISABLED: "true" }),
    logger: silentLogger(),
  });
  started.push(service);
  return service;
}

/** A client of `name` in a started service `caller`, as another service calls it. */
async function clientOfCaller(setup: Setup, name: string): Promise<AlphaClient> {
  const caller = serviceOf("caller", setup);
  await caller.start();
  return caller.client(AlphaDefinition, name);
}

/**
 * The service the work calls: it answers how many ms its call had left before its deadline in
 * `sequence` (-1 for none) and the `x-md-global-tenant` it was sent in `payload`.
 */
async function startTarget(setup: Setup): Promise<void> {
  const target = serviceOf("target", setup);
  target.handle(
    AlphaDefinition,
    {
      async unary(_request: Request, context: CallContext): Promise<Response> {
        const tenant = context.metadata["x-md-global-tenant"];
        return {
          id: "target",
          payload: new TextEncoder().encode(typeof tenant === "string" ? tenant : ""),
          sequence: context.deadline ? context.deadline.getTime() - Date.now() : -1,
        };
      },
    },
    { partial: true },
  );
  await target.start();
}

/**
 * The timeout of the calls whose deadline work outlives: long enough for a loaded machine to answer
 * (and, on the http broker, to store a publish) within it, as every test waits it out.
 */
const callMs = 1_000;

/** Resolves once `deadline` has passed on this process's clock. */
async function past(deadline: Date | undefined): Promise<void> {
  if (!deadline) throw new Error("the served call has no deadline");
  while (Date.now() <= deadline.getTime()) await sleep(deadline.getTime() - Date.now() + 1);
}

/** How a call to the target ended: its answer, or the code and message it failed with. */
type Outcome = { readonly answer: Response } | { readonly code: Code; readonly message: string };

function outcomeOf(call: Promise<Response>): Promise<Outcome> {
  return call.then(
    (answer) => ({ answer }),
    (error: { code: Code; message: string }) => ({ code: error.code, message: error.message }),
  );
}

/** A promise and its resolve, for work the test waits for. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const metadata = { "x-md-global-tenant": "acme" };
const tenantOf = (outcome: Outcome) => ("answer" in outcome ? new TextDecoder().decode(outcome.answer.payload) : "");

// With tracing on a handled call lives in its span's context; with it off, in the service's own scope.
describe.each([
  ["tracing on", true],
  ["tracing off", false],
])("work a handler leaves running after it answers, %s", (_, traced) => {
  let setup: Setup;
  let jobs: AlphaClient;
  /** How the last job's call to the target ended. */
  let job = deferred<Outcome>();

  beforeAll(async () => {
    setup = { registry: createMemoryRegistry(), traced };
    await startTarget(setup);
    const service = serviceOf("jobs", setup);
    const target = service.client(AlphaDefinition, "target");
    service.handle(
      AlphaDefinition,
      {
        // Answers at once; its job calls the target once the call's deadline has passed, with
        // the call as explicit parent when the request says `parent`.
        async unary(request: Request, context: CallContext): Promise<Response> {
          if (request.id === "without cancel") {
            // Still serving the call, past its deadline: what it must do whatever the caller does.
            await past(context.deadline);
            const done = job;
            done.resolve(await outcomeOf(withoutCancel(() => target.unary({ id: "job", payload: new Uint8Array() }))));
            return { id: "late", payload: new Uint8Array(), sequence: 0 };
          }
          const options = request.id === "parent" ? { parent: context } : {};
          const done = job;
          void past(context.deadline).then(() =>
            outcomeOf(target.unary({ id: "job", payload: new Uint8Array() }, options)).then(done.resolve),
          );
          return { id: "jobs", payload: new Uint8Array(), sequence: 0 };
        },
        // Calls the target before its first message (bounded by the stream's deadline); once the
        // stream has ended, its job calls the target when that deadline has passed.
        async *serverStream(request: Request, context: CallContext): AsyncIterable<Response> {
          if (request.id === "cancel") {
            // Sends one message and starts a job, then waits for the client to cancel, as a watch
            // waits for its next change; its job calls the target once the stream's deadline passed.
            yield { id: "first", payload: new Uint8Array(), sequence: 1 };
            const done = job;
            void past(context.deadline).then(() =>
              outcomeOf(target.unary({ id: "job", payload: new Uint8Array() })).then(done.resolve),
            );
            await new Promise((resolve) => context.signal.addEventListener("abort", resolve, { once: true }));
            yield { id: "after the cancel", payload: new Uint8Array(), sequence: 2 };
            return;
          }
          yield await target.unary({ id: "stream", payload: new Uint8Array() });
          const done = job;
          void past(context.deadline).then(() =>
            outcomeOf(target.unary({ id: "job", payload: new Uint8Array() })).then(done.resolve),
          );
        },
      },
      { partial: true },
    );
    await service.start();
    jobs = await clientOfCaller(setup, "jobs");
  });

  afterAll(stopStarted);

  it("a call it makes once the answered call's deadline has passed runs on its own timeout, with the call's passed-on metadata", async () => {
    job = deferred();
    await jobs.unary({ id: "start", payload: new Uint8Array() }, { timeoutMs: callMs, metadata });
    const outcome = await job.promise;
    expect(outcome).toMatchObject({ answer: { id: "target" } });
    // Its own deadline (--client_request_timeout, 5 s), not the first call's, already past.
    expect("answer" in outcome && outcome.answer.sequence).toBeGreaterThan(callMs);
    expect(tenantOf(outcome)).toBe("acme");
  });

  it("a call its handler makes withoutCancel past the call's deadline runs on its own timeout, with the call's passed-on metadata", async () => {
    job = deferred();
    const answer = outcomeOf(
      jobs.unary({ id: "without cancel", payload: new Uint8Array() }, { timeoutMs: callMs, metadata }),
    );
    expect(await answer).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    const outcome = await job.promise;
    expect(outcome).toMatchObject({ answer: { id: "target" } });
    // Its own deadline (--client_request_timeout, 5 s), not the served call's, already past.
    expect("answer" in outcome && outcome.answer.sequence).toBeGreaterThan(callMs);
    expect(tenantOf(outcome)).toBe("acme");
  });

  it("a server stream's handler calls within the stream's deadline; work it leaves running, once the stream ended, on its own", async () => {
    job = deferred();
    const answers: Response[] = [];
    for await (const answer of jobs.serverStream(
      { id: "s", payload: new Uint8Array() },
      { timeoutMs: 1_000, metadata },
    ))
      answers.push(answer);
    // The target's call had no more than the stream's 1 s left, not its own 5 s.
    expect(answers).toHaveLength(1);
    expect(answers[0]!.sequence).toBeGreaterThan(0);
    expect(answers[0]!.sequence).toBeLessThanOrEqual(1_000);
    const outcome = await job.promise;
    expect(outcome).toMatchObject({ answer: { id: "target" } });
    expect(tenantOf(outcome)).toBe("acme");
  });

  it("a server stream its client cancelled is answered: work its handler left running is not bounded by the stream's deadline", async () => {
    job = deferred();
    for await (const _ of jobs.serverStream(
      { id: "cancel", payload: new Uint8Array() },
      { timeoutMs: 1_000, metadata },
    ))
      break;
    const outcome = await job.promise;
    expect(outcome).toMatchObject({ answer: { id: "target" } });
    expect(tenantOf(outcome)).toBe("acme");
  });

  it("an explicit parent still bounds it by the answered call's deadline", async () => {
    job = deferred();
    await jobs.unary({ id: "parent", payload: new Uint8Array() }, { timeoutMs: callMs, metadata });
    expect(await job.promise).toMatchObject({
      code: Code.DEADLINE_EXCEEDED,
      message: expect.stringMatching(
        /^no time left to call target before the deadline of the call being served .* was not sent$/,
      ),
    });
  });
});

/**
 * The brokers an event can travel on, with tracing on or off, and how the subscriber subscribes:
 * typed (service.subscribe), or with a raw handler on the broker it was handed (the memory broker).
 */
const brokers: readonly (readonly [string, "on" | "off", "typed" | "raw"])[] = [
  ["memory", "off", "typed"],
  ["memory", "on", "typed"],
  ["memory", "on", "raw"],
  ["http", "off", "typed"],
  ...(natsProgram ? [["nats", "off", "typed"] as const] : []),
];

describe.each(brokers)("an event's handler on the %s broker, tracing %s, %s", (kind, tracing, subscription) => {
  const traced = tracing === "on";
  let setup: Setup;
  let nats: NatsServer | undefined;
  let orders: AlphaClient;
  /** The deadline of the publisher's call, and how the subscriber's call to the target ended. */
  let publisherDeadline: Date | undefined;
  let handled = deferred<Outcome>();

  beforeAll(async () => {
    const registry = createMemoryRegistry();
    if (kind === "memory") setup = { registry, broker: createMemoryBroker(), traced };
    else if (kind === "http") setup = { registry, args: ["--broker=http"], traced };
    else {
      nats = await startNatsServer();
      setup = { registry, args: ["--broker=nats", `--broker_address=${nats.url}`], traced };
    }
    await startTarget(setup);
    const billing = serviceOf("billing", setup);
    const target = billing.client(AlphaDefinition, "target");
    // Calls the target once the publisher's call is past its deadline, while that call still runs.
    const handle = async () => {
      await past(publisherDeadline);
      handled.resolve(await outcomeOf(target.unary({ id: "event", payload: new Uint8Array() })));
    };
    if (subscription === "typed") billing.subscribe(OrdersEvents, { orderPlaced: handle }, { partial: true });
    await billing.start();
    if (subscription === "raw") await setup.broker!.subscribe(OrdersEvents.events.orderPlaced.topic, handle);
    const publisher = serviceOf("orders", setup);
    const placed = publisher.publisher(OrdersEvents);
    publisher.handle(
      AlphaDefinition,
      {
        // Publishes, then answers only once the event's handler is done.
        async unary(request: Request, context: CallContext): Promise<Response> {
          publisherDeadline = context.deadline;
          await placed.orderPlaced({ orderId: request.id });
          await handled.promise;
          return { id: "orders", payload: new Uint8Array(), sequence: 0 };
        },
      },
      { partial: true },
    );
    await publisher.start();
    orders = await clientOfCaller(setup, "orders");
  });

  afterAll(async () => {
    await stopStarted();
    await setup?.broker?.stop();
    await nats?.stop();
  });

  it("is the subscriber's own work: a call it makes once the publisher's call is past its deadline runs on its own timeout", async () => {
    handled = deferred();
    // The publisher's caller gives up at callMs; the publisher's handler still waits for the event's.
    await expect(orders.unary({ id: "o-1", payload: new Uint8Array() }, { timeoutMs: callMs })).rejects.toMatchObject({
      code: Code.DEADLINE_EXCEEDED,
    });
    const outcome = await handled.promise;
    expect(outcome).toMatchObject({ answer: { id: "target" } });
    expect("answer" in outcome && outcome.answer.sequence).toBeGreaterThan(callMs);
  });
});

/** The network brokers a subscription first made inside a handler is tested on, with tracing on or off. */
const networkBrokers: readonly (readonly [string, "on" | "off"])[] = [
  ["http", "off"],
  ["http", "on"],
  ...(natsProgram ? (["off", "on"] as const).map((tracing) => ["nats", tracing] as const) : []),
];

describe.each(networkBrokers)(
  "a subscription first made inside a handler, on the %s broker, tracing %s",
  (kind, tracing) => {
    let setup: Setup;
    let nats: NatsServer | undefined;
    let watcher: AlphaClient;
    /** The deadline of the call whose handler subscribed, and how the message's call to the target ended. */
    let subscribingDeadline: Date | undefined;
    let handled = deferred<Outcome>();

    beforeAll(async () => {
      const registry = createMemoryRegistry();
      const traced = tracing === "on";
      if (kind === "http") setup = { registry, args: ["--broker=http"], traced };
      else {
        nats = await startNatsServer();
        setup = { registry, args: ["--broker=nats", `--broker_address=${nats.url}`], traced };
      }
      await startTarget(setup);
      // Subscribes to nothing at start: its broker's receiving server (http) or the subscription's
      // loop (NATS) is first made by the subscribe() inside its handler.
      const service = serviceOf("watcher", setup);
      const target = service.client(AlphaDefinition, "target");
      const topic = `watch.${kind}.${tracing}`;
      service.handle(
        AlphaDefinition,
        {
          // Subscribes and publishes, then answers only once the message's handler is done.
          async unary(_request: Request, context: CallContext): Promise<Response> {
            subscribingDeadline = context.deadline;
            await service.broker.subscribe(topic, async () => {
              await past(subscribingDeadline);
              handled.resolve(await outcomeOf(target.unary({ id: "message", payload: new Uint8Array() })));
            });
            await service.broker.publish(topic, new Uint8Array([1]));
            await handled.promise;
            return { id: "watcher", payload: new Uint8Array(), sequence: 0 };
          },
        },
        { partial: true },
      );
      await service.start();
      watcher = await clientOfCaller(setup, "watcher");
    });

    afterAll(async () => {
      await stopStarted();
      await nats?.stop();
    });

    it("delivers as the subscriber's own work: a message's call past that call's deadline runs on its own timeout, without its metadata", async () => {
      handled = deferred();
      await expect(
        watcher.unary({ id: "w-1", payload: new Uint8Array() }, { timeoutMs: callMs, metadata }),
      ).rejects.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
      const outcome = await handled.promise;
      expect(outcome).toMatchObject({ answer: { id: "target" } });
      expect("answer" in outcome && outcome.answer.sequence).toBeGreaterThan(callMs);
      // The subscribing call's x-md-global- keys are its own, not every later message's.
      expect(tenantOf(outcome)).toBe("");
    });
  },
);

describe.skipIf(!natsProgram)("a publish by work a handler left running, on NATS JetStream", () => {
  let nats: NatsServer;
  let orders: AlphaClient;
  /** How the job's publish ended, and the events the subscriber got. */
  let published = deferred<unknown>();
  const received: string[] = [];

  beforeAll(async () => {
    nats = await startNatsServer({ jetstream: true });
    const setup: Setup = {
      registry: createMemoryRegistry(),
      args: ["--broker=nats", `--broker_address=${nats.url}`, "--broker_jetstream=on"],
      traced: false,
    };
    const billing = serviceOf("billing", setup);
    billing.subscribe(
      OrdersEvents,
      { orderPlaced: async (event) => void received.push(event.orderId) },
      { partial: true },
    );
    await billing.start();
    const publisher = serviceOf("orders", setup);
    const placed = publisher.publisher(OrdersEvents);
    publisher.handle(
      AlphaDefinition,
      {
        // Outlives its caller, which cancels at its deadline, then answers, leaving a job that publishes.
        async unary(request: Request, context: CallContext): Promise<Response> {
          await new Promise((resolve) => context.signal.addEventListener("abort", resolve, { once: true }));
          const done = published;
          // After the answer: the service marks the call answered as the handler's promise settles.
          setImmediate(() =>
            placed
              .orderPlaced({ orderId: request.id })
              .then(
                () => "published",
                (error: unknown) => error,
              )
              .then(done.resolve),
          );
          return { id: "orders", payload: new Uint8Array(), sequence: 0 };
        },
      },
      { partial: true },
    );
    await publisher.start();
    orders = await clientOfCaller(setup, "orders");
  });

  afterAll(async () => {
    await stopStarted();
    await nats?.stop();
  });

  it("is not given up for the answered call's cancel: the event is stored and handled", async () => {
    published = deferred();
    await expect(orders.unary({ id: "o-2", payload: new Uint8Array() }, { timeoutMs: callMs })).rejects.toMatchObject({
      code: Code.DEADLINE_EXCEEDED,
    });
    expect(await published.promise).toBe("published");
    await waitFor("the event's handler", () => received.includes("o-2"));
  });
});
