import type { MessageCodec } from "@tsmicro/runtime";

/** Messages as raw bytes, sent and received as they are: what another language's client or server may send. */
export const rawCodec: MessageCodec<Uint8Array> = {
  encode: (bytes) => ({ finish: () => bytes }),
  decode: (bytes) => bytes,
  fromJSON: () => new Uint8Array(),
  toJSON: () => ({}),
  fromPartial: (bytes) => bytes as Uint8Array,
};
