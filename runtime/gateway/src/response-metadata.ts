import type { FastifyReply, FastifyRequest } from "fastify";
import type { Metadata } from "@tsmicro/runtime";

/**
 * Keys a backend's response metadata carries that are gRPC's or HTTP's own, not the service's:
 * never copied to the HTTP response.
 */
const transportKeys = new Set([
  "content-type",
  "content-length",
  "date",
  "te",
  "trailer",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "host",
  "user-agent",
]);

/** HTTP header values for one metadata key: `-bin` values in base64, several values as several headers. */
type HeaderValues = string[];

/**
 * A backend call's response metadata on its way to the HTTP client, as grpc-gateway forwards it:
 * header metadata as `Grpc-Metadata-<key>` headers, trailer metadata as `Grpc-Trailer-<key>`:
 * HTTP trailers when the client asked for them (`TE: trailers`), otherwise headers. Pass
 * `onHeader` and `onTrailer` to the call, then `apply` (or `headers` and `trailers` for a
 * stream) before the response goes out.
 */
export class ResponseMetadata {
  #header: Metadata | undefined;
  #trailer: Metadata | undefined;
  readonly #wantsTrailers: boolean;

  constructor(request: FastifyRequest) {
    const te = request.headers.te;
    this.#wantsTrailers = typeof te === "string" && /(^|,)\s*trailers\s*(;|,|$)/i.test(te);
  }

  readonly onHeader = (metadata: Metadata): void => {
    this.#header = metadata;
  };

  readonly onTrailer = (metadata: Metadata): void => {
    this.#trailer = metadata;
  };

  /** A metadata value the backend sent, header or trailer (the trailer wins), as text. */
  text(key: string): string | undefined {
    const value = this.#trailer?.[key] ?? this.#header?.[key];
    return typeof value === "string" ? value : undefined;
  }

  /** The `Grpc-Metadata-*` headers, and `Grpc-Trailer-*` ones when they do not go as trailers. */
  headers(): Record<string, HeaderValues> {
    const headers: Record<string, HeaderValues> = {};
    const add = (name: string, values: HeaderValues): void => {
      headers[name] = values;
    };
    forwarded(this.#header, "grpc-metadata-", add);
    if (!this.#wantsTrailers) forwarded(this.#trailer, "grpc-trailer-", add);
    return headers;
  }

  /** The `Grpc-Trailer-*` HTTP trailers, when the client accepts trailers; else none. */
  trailers(): Record<string, HeaderValues> {
    const trailers: Record<string, HeaderValues> = {};
    if (this.#wantsTrailers)
      forwarded(this.#trailer, "grpc-trailer-", (name, values) => {
        trailers[name] = values;
      });
    return trailers;
  }

  /** Sets the headers and trailers on a reply that fastify sends. */
  apply(reply: FastifyReply): void {
    // Most answers carry no metadata of the service's: no list for them.
    let names: string[] | undefined;
    const header = (name: string, values: HeaderValues): void => {
      names ??= [];
      names.push(name);
      void reply.header(name, values);
    };
    forwarded(this.#header, "grpc-metadata-", header);
    if (!this.#wantsTrailers) forwarded(this.#trailer, "grpc-trailer-", header);
    else
      forwarded(this.#trailer, "grpc-trailer-", (name, values) => {
        void reply.trailer(name, (_reply, _payload, done) => done(null, values.join(", ")));
      });
    const exposed = names && exposing(reply.getHeader(exposeHeaders), names);
    if (exposed !== undefined) void reply.header(exposeHeaders, exposed);
  }
}

const exposeHeaders = "access-control-expose-headers";

/**
 * The `Access-Control-Expose-Headers` of a cross-origin answer (one CORS gave the header)
 * naming the metadata headers too, which a browser's script reads only so; undefined when
 * there is nothing to add.
 */
export function exposing(current: unknown, names: readonly string[]): string | undefined {
  if (typeof current !== "string" || names.length === 0) return undefined;
  return `${current}, ${names.join(", ")}`;
}

/** Hands each key of `metadata` that is the service's own to `add`, prefixed, with its values as header text. */
function forwarded(
  metadata: Metadata | undefined,
  prefix: string,
  add: (name: string, values: HeaderValues) => void,
): void {
  // Called on every response: for-in and no copies, as most answers carry only gRPC's own keys.
  for (const key in metadata) {
    // tsmicro-* keys are tsmicro's own between its processes (which service failed down a chain), not the client's.
    if (key.charCodeAt(0) === 58 || key.startsWith("grpc-") || key.startsWith("tsmicro-") || transportKeys.has(key))
      continue;
    const value = metadata[key] as Metadata[string];
    const values = (Array.isArray(value) ? value : [value]) as readonly (string | Uint8Array)[];
    add(
      `${prefix}${key}`,
      values.map((v) => (typeof v === "string" ? v : Buffer.from(v).toString("base64"))),
    );
  }
}
