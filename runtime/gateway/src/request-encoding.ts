import { brotliDecompress, gunzip, inflate, type InputType, type ZlibOptions } from "node:zlib";
import { Code, TsmicroError } from "@tsmicro/runtime";

type Decoder = (input: InputType, options: ZlibOptions, done: (error: Error | null, result: Buffer) => void) => void;

/** The content codings a request body may come in (RFC 9110 8.4.1), by their names in `Content-Encoding`. */
const decoders = new Map<string, Decoder>([
  ["gzip", gunzip],
  ["x-gzip", gunzip],
  ["deflate", inflate],
  ["br", brotliDecompress],
]);

/** A request body refused for its content coding: `status` is the HTTP status to answer with (413 or 415), when not 400. */
export class BodyEncodingError extends TsmicroError {
  constructor(
    code: Code,
    message: string,
    readonly status?: number,
  ) {
    super(code, message);
  }
}

/**
 * The body of a request whose `Content-Encoding` names codings (`gzip`, `deflate`, `br`, in the
 * order they were applied), decoded in the zlib thread pool, never to more than `limit` bytes (a
 * small body that inflates past `--body_limit` is refused as a large one would be). A coding the
 * gateway does not know is a 415, and bytes that are not what their coding says a 400.
 */
export async function decodeBody(body: Buffer, contentEncoding: string, limit: number): Promise<Buffer> {
  const codings = contentEncoding
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== "" && coding !== "identity");
  const unknown = codings.find((coding) => !decoders.has(coding));
  if (unknown !== undefined)
    throw new BodyEncodingError(
      Code.INVALID_ARGUMENT,
      `the request body's Content-Encoding ${JSON.stringify(unknown)} is not one the gateway reads: send it as it is, or as gzip, deflate or br`,
      415,
    );
  let decoded = body;
  for (const coding of codings.reverse()) decoded = await decodeOne(decoded, coding, limit);
  return decoded;
}

function decodeOne(body: Buffer, coding: string, limit: number): Promise<Buffer> {
  const decode = decoders.get(coding)!;
  return new Promise((resolve, reject) =>
    decode(body, { maxOutputLength: limit }, (error, result) => {
      if (!error) return resolve(result);
      reject(
        (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE"
          ? new BodyEncodingError(
              Code.OUT_OF_RANGE,
              `the request body, decoded from ${coding}, is over the gateway's limit of ${limit} bytes (--body_limit)`,
              413,
            )
          : new BodyEncodingError(
              Code.INVALID_ARGUMENT,
              `the request body is not ${coding} data, as its Content-Encoding says: send it encoded so, or without the header`,
            ),
      );
    }),
  );
}
