/**
 * JSON.parse for proto3 JSON from outside (a gateway's request body, `tsmicro call`'s request):
 * an integer written beyond what a double holds exactly (past 2^53, as int64 and uint64 values
 * are) is kept as its digits, a string, which proto3 JSON takes for every number type. JSON.parse
 * alone would round it, and the service would get another value. Throws as JSON.parse does.
 */
export function parseExactJson(text: string): unknown {
  // Only a run of 16 digits or more can be an integer past 2^53; most texts have none.
  return longDigitRun.test(text) ? JSON.parse(text, exactIntegers) : JSON.parse(text);
}

const longDigitRun = /\d{16}/;

/** The JSON.parse reviver of parseExactJson: reads the number's source text (Node 22's JSON.parse source access). */
function exactIntegers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== "number" || Number.isSafeInteger(value) || context?.source === undefined) return value;
  return /^-?\d+$/.test(context.source) ? context.source : value;
}
