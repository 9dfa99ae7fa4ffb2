/**
 * Core NATS publishes made while the connection is down, held in arrival
 * order up to a byte limit, as nats.go's ReconnectBufSize holds them: nats.js
 * 2.x empties its own outbound buffer on every reconnect attempt, so what it
 * buffered during an outage would never reach the server.
 */

/** One publish held for the reconnect. */
export interface HeldPublish<H> {
  readonly topic: string;
  readonly body: Uint8Array;
  readonly headers: H;
}

/** Publishes held while disconnected, at most `limitBytes` of bodies, topics and headers together. */
export class ReconnectBuffer<H> {
  readonly #held: HeldPublish<H>[] = [];
  #bytes = 0;

  /** `limitBytes`: what the held publishes may take together; 0 holds none. */
  constructor(readonly limitBytes: number) {}

  /** How many publishes are held. */
  get count(): number {
    return this.#held.length;
  }

  /** Holds a publish of `size` bytes (sizeOf); false, holding nothing, when it would pass the limit. */
  hold(publish: HeldPublish<H>, size: number): boolean {
    if (this.#bytes + size > this.limitBytes) return false;
    this.#held.push(publish);
    this.#bytes += size;
    return true;
  }

  /** Empties the buffer, returning what it held in the order it came. */
  takeAll(): HeldPublish<H>[] {
    this.#bytes = 0;
    return this.#held.splice(0);
  }
}

/** What one publish counts against the limit: its body, topic and header names and values, as sent. */
export function sizeOf(topic: string, body: Uint8Array, headers: Readonly<Record<string, string>>): number {
  let size = body.byteLength + Buffer.byteLength(topic);
  for (const [name, value] of Object.entries(headers)) size += Buffer.byteLength(name) + Buffer.byteLength(value);
  return size;
}

/** A byte count as a log line says it: `8 MiB` when whole mebibytes, else `350 bytes`. */
export function bytesText(bytes: number): string {
  const mib = 1024 * 1024;
  return bytes > 0 && bytes % mib === 0 ? `${bytes / mib} MiB` : `${bytes} bytes`;
}

/** A number of events as a log line says it: `1 event`, `2 events`. */
export function eventsText(count: number): string {
  return `${count} ${count === 1 ? "event" : "events"}`;
}
