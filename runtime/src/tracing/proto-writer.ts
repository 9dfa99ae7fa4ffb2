/** Protobuf wire types. */
export const Wire = { Varint: 0, Fixed64: 1, Bytes: 2, Fixed32: 5 } as const;

/**
 * Protocol buffers written straight into one growing buffer: just the
 * primitives the OTLP span encoding needs. A nested message is written in
 * place and its length set after, moving its bytes only in the rare case the
 * length takes more than one byte.
 */
export class ProtoWriter {
  #bytes: Buffer;
  readonly #headRoom: number;
  #at: number;
  /** The whole second nanosFromMs last wrote, and its nanoseconds' 32-bit halves. */
  #second = -1;
  #secondLow = 0;
  #secondHigh = 0;

  /** `headRoom` bytes are left free at the start of each buffer, for what is written in front later. */
  constructor(initialBytes: number, headRoom = 0) {
    this.#bytes = Buffer.allocUnsafeSlow(Math.max(initialBytes, headRoom + 16));
    this.#headRoom = headRoom;
    this.#at = headRoom;
  }

  /**
   * The bytes written so far (from the start of the buffer, head room
   * included), in a buffer of their own (transferable: never pooled or
   * shared); the writer starts again on `next` when it is as large as the
   * buffer it leaves (a buffer an earlier take() returned, once its reader is
   * done with it), on a new one otherwise.
   */
  take(next?: ArrayBuffer): Uint8Array<ArrayBuffer> {
    const taken = new Uint8Array(this.#bytes.buffer as ArrayBuffer, 0, this.#at);
    this.#bytes =
      next && next.byteLength >= this.#bytes.length ? Buffer.from(next) : Buffer.allocUnsafeSlow(this.#bytes.length);
    this.#at = this.#headRoom;
    return taken;
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** A non-negative integer up to 2^53 as a varint. */
  varint(value: number): void {
    this.#room(10);
    while (value >= 0x80) {
      this.#bytes[this.#at++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.#bytes[this.#at++] = value;
  }

  /** An int64 field's value: negative numbers take ten bytes, two's complement. */
  int64(value: number): void {
    if (value >= 0) {
      this.varint(value);
      return;
    }
    let rest = BigInt.asUintN(64, BigInt(value));
    this.#room(10);
    while (rest >= 0x80n) {
      this.#bytes[this.#at++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    this.#bytes[this.#at++] = Number(rest);
  }

  double(value: number): void {
    this.#room(8);
    this.#at = this.#bytes.writeDoubleLE(value, this.#at);
  }

  fixed32(value: number): void {
    this.#room(4);
    const bytes = this.#bytes;
    let at = this.#at;
    bytes[at++] = value & 0xff;
    bytes[at++] = (value >>> 8) & 0xff;
    bytes[at++] = (value >>> 16) & 0xff;
    bytes[at++] = (value >>> 24) & 0xff;
    this.#at = at;
  }

  /** Epoch milliseconds (with sub-millisecond digits) as fixed64 nanoseconds, exactly. */
  nanosFromMs(ms: number): void {
    const seconds = Math.floor(ms / 1_000);
    const nanos = Math.min(Math.round((ms - seconds * 1_000) * 1e6), 999_999_999);
    if (seconds !== this.#second) this.#setSecond(seconds);
    let low = this.#secondLow + nanos;
    let high = this.#secondHigh;
    if (low >= 0x1_0000_0000) {
      low -= 0x1_0000_0000;
      high++;
    }
    this.fixed32(low);
    this.fixed32(high);
  }

  /** Splits `seconds` * 1e9 into its 32-bit halves: once a second, as the spans of one second share it. */
  #setSecond(seconds: number): void {
    // seconds * 1e9 passes 2^53; split seconds in 16-bit halves so every product stays exact.
    const high16 = Math.floor(seconds / 0x10000) * 1e9;
    const low = (seconds % 0x10000) * 1e9 + (high16 % 0x10000) * 0x10000;
    this.#second = seconds;
    this.#secondLow = low % 0x1_0000_0000;
    this.#secondHigh = Math.floor(high16 / 0x10000) + Math.floor(low / 0x1_0000_0000);
  }

  string(field: number, text: string): void {
    this.tag(field, Wire.Bytes);
    // Up to 42 UTF-16 units take at most 126 UTF-8 bytes: a one-byte length, written after.
    // ASCII (names, keys, addresses) is copied here: a call into Buffer#write costs more than the copy.
    if (text.length <= 42) {
      this.#room(1 + text.length * 3);
      const bytes = this.#bytes;
      const start = this.#at + 1;
      let at = start;
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0x80) {
          at = start + bytes.write(text, start, "utf8");
          break;
        }
        bytes[at++] = code;
      }
      bytes[start - 1] = at - start;
      this.#at = at;
      return;
    }
    const length = Buffer.byteLength(text, "utf8");
    this.varint(length);
    this.#room(length);
    this.#at += this.#bytes.write(text, this.#at, "utf8");
  }

  /** A hex id (trace or span id, valid as the API checks them) as bytes; nothing for an empty one. */
  hexBytes(field: number, hex: string): void {
    if (hex.length === 0) return;
    this.tag(field, Wire.Bytes);
    const length = hex.length >> 1;
    this.varint(length);
    this.#room(length);
    // A character that is not hex ends the id, whose bytes are zeros from there.
    const written = this.#bytes.write(hex, this.#at, length, "hex");
    if (written < length) this.#bytes.fill(0, this.#at + written, this.#at + length);
    this.#at += length;
  }

  raw(bytes: Uint8Array): void {
    this.#room(bytes.length);
    this.#bytes.set(bytes, this.#at);
    this.#at += bytes.length;
  }

  /**
   * Opens a nested message of `field`, with `lengthBytes` reserved for its
   * length (2 for one that usually takes 128 bytes or more, as a span does);
   * `end()` with what this returns, and the same `lengthBytes`, closes it.
   */
  begin(field: number, lengthBytes = 1): number {
    this.tag(field, Wire.Bytes);
    this.#room(lengthBytes);
    this.#at += lengthBytes;
    return this.#at;
  }

  /** Writes the length of the message opened at `start`, moving its bytes only when the length does not fit the room reserved. */
  end(start: number, lengthBytes = 1): void {
    const length = this.#at - start;
    const size = varintSize(length);
    if (size !== lengthBytes) {
      this.#room(size - lengthBytes);
      this.#bytes.copyWithin(start + size - lengthBytes, start, this.#at);
      start += size - lengthBytes;
      this.#at += size - lengthBytes;
    }
    const end = this.#at;
    this.#at = start - size;
    this.varint(length);
    this.#at = end;
  }

  #room(bytes: number): void {
    if (this.#at + bytes <= this.#bytes.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.#bytes.length * 2, this.#at + bytes));
    this.#bytes.copy(grown, 0, 0, this.#at);
    this.#bytes = grown;
  }
}

/** How many bytes `value` takes as a varint. */
export function varintSize(value: number): number {
  let size = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) size++;
  return size;
}
