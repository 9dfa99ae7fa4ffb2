import { describe, expect, it, vi } from "vitest";
import { isTsmicroError } from "@tsmicro/runtime";
import { duplicateKey } from "@tsmicro/runtime/internal";
import { maxJsonDepth, parseJsonBody } from "./json-body.js";

// The scan for a key written twice, watched: it is to run only when the counts say a key may be.
vi.mock("@tsmicro/runtime/internal", async (importOriginal) => {
  const actual = await importOriginal<typeof import("@tsmicro/runtime/internal")>();
  return { ...actual, duplicateKey: vi.fn(actual.duplicateKey) };
});

function refusal(text: string): string {
  try {
    parseJsonBody(text);
  } catch (error) {
    if (isTsmicroError(error) && error.code === 3) return error.message;
  }
  throw new Error(`${text.slice(0, 40)} was accepted`);
}

describe("parseJsonBody", () => {
  it("parses JSON and reads a blank body as none", () => {
    expect(parseJsonBody('{"a":[1,{"b":"}]"}]}')).toEqual({ a: [1, { b: "}]" }] });
    expect(parseJsonBody("  \n")).toBeUndefined();
  });

  it("keeps integers past 2^53 exact, as the strings proto3 JSON takes for 64-bit fields", () => {
    expect(
      parseJsonBody(
        '{"limit":9007199254740993,"max":18446744073709551615,"low":-9223372036854775808,"safe":9007199254740991,"id":"12345678901234567","ratio":12345678901234567.5,"big":1e300}',
      ),
    ).toEqual({
      limit: "9007199254740993",
      max: "18446744073709551615",
      low: "-9223372036854775808",
      safe: 9007199254740991,
      id: "12345678901234567",
      ratio: 12345678901234568,
      big: 1e300,
    });
    expect(parseJsonBody("[12345678901234567890]")).toEqual(["12345678901234567890"]);
  });

  it("accepts nesting up to the limit and refuses one level more, naming both", () => {
    const nested = (n: number) => "[".repeat(n) + "]".repeat(n);
    expect(parseJsonBody(nested(maxJsonDepth))).toBeDefined();
    expect(refusal(nested(maxJsonDepth + 1))).toBe(
      `the request body nests ${maxJsonDepth + 1} levels deep; at most ${maxJsonDepth} are allowed`,
    );
    expect(refusal(`{"a":${'{"a":'.repeat(5000)}1${"}".repeat(5001)}`)).toMatch(/nests 5001 levels deep/);
  });

  it("does not count brackets inside strings, escaped quotes included", () => {
    const text = JSON.stringify({ s: `\\"${"[".repeat(500)}` });
    expect(parseJsonBody(text)).toEqual({ s: `\\"${"[".repeat(500)}` });
  });

  it("says where malformed JSON goes wrong and what is wrong there, in its own words", () => {
    expect(refusal('{"name":"a",}')).toBe(
      "the request body is not valid JSON at line 1, column 13: a comma before }; JSON allows no trailing comma",
    );
    expect(refusal('{\n  "name": "a"\n  "size": 2\n}')).toBe(
      'the request body is not valid JSON at line 3, column 3: expected , or } after a property, found "\\""',
    );
    expect(refusal('{"name":"a"')).toBe(
      "the request body is not valid JSON at line 1, column 12: the body ends where , or } after a property should be",
    );
    expect(refusal("{name: 1}")).toBe(
      'the request body is not valid JSON at line 1, column 2: expected a "quoted" property name, found "n"',
    );
    // As Notepad and PowerShell save UTF-8: invisible, so named.
    expect(refusal('\uFEFF{"name":"a"}')).toBe(
      "the request body is not valid JSON at line 1, column 1: expected a value, found a byte order mark (U+FEFF), which JSON text must not have; save it as UTF-8 without one",
    );
    expect(() => parseJsonBody("[1,]", "POST /rpc: request")).toThrow(
      "POST /rpc: request is not valid JSON at line 1, column 4: a comma before ]; JSON allows no trailing comma",
    );
  });

  it("refuses a key written twice in one object, at any depth, naming it and both places", () => {
    expect(refusal('{"title":"a","title":"b"}')).toBe(
      'the request body has the key "title" twice in one object, at line 1, column 14 and first at line 1, column 2; only one would count: send it once',
    );
    expect(refusal('{\n  "book": {\n    "tags": [],\n    "tags" : ["x"]\n  }\n}')).toBe(
      'the request body has the key "tags" twice in one object, at line 4, column 5 and first at line 3, column 5; only one would count: send it once',
    );
    // Inside a list's item, a map or a Struct, as grpc-gateway's protojson refuses a duplicate map key.
    expect(refusal('{"items":[{"id":1},{"id":2,"id":3}]}')).toMatch(/^the request body has the key "id" twice/);
    expect(refusal('{"labels":{"env":"a","env":"b"}}')).toMatch(/the key "env" twice/);
    // Written differently, read the same: JSON.parse would keep the second.
    expect(refusal('{"\\u0063ount":1,"count":2}')).toMatch(/the key "count" twice/);
    expect(() => parseJsonBody('{"a":1,"a":2}', "POST /rpc: request")).toThrow(
      /^POST \/rpc: request has the key "a" twice in one object/,
    );
  });

  it("takes the same key in different objects, and colons and quotes inside strings", () => {
    const bodies = [
      '{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":{"a":{"a":null}}}',
      '{"at":"2024-01-01T10:00:00Z","url":"http://h:80/x","a":{"at":"10:00"}}',
      '{"quote":"\\":\\"","s":":","t":" :","u":"\\\\"}',
      '{"a": 1, "b" :2,\n"c"\t:\r\n3}',
      '{"":1,"x":{"":2}}',
      '{"__proto__":1,"a":{"__proto__":2}}',
    ];
    for (const body of bodies) expect(parseJsonBody(body), body).toEqual(JSON.parse(body));
  });

  it("scans for the key only when a body may write one twice, not for JSON text held in a string", () => {
    const scans = vi.mocked(duplicateKey);
    scans.mockClear();
    // A field holding JSON (an event's payload, a webhook's body): its escaped quotes end no key.
    const held = '{"payload":"{\\"a\\":1,\\"b\\":{\\"c\\":\\"10:00\\"}}","at":"10:00:00"}';
    expect(parseJsonBody(held)).toEqual(JSON.parse(held));
    // An escaped backslash before a key's closing quote still ends the key.
    const backslashKey = '{"a\\\\":1,"b":"\\":"}';
    expect(parseJsonBody(backslashKey)).toEqual(JSON.parse(backslashKey));
    expect(scans).not.toHaveBeenCalled();
    expect(refusal('{"a\\\\":1,"a\\\\":2}')).toMatch(/the key "a\\\\" twice/);
    expect(scans).toHaveBeenCalledTimes(1);
  });

  it("on random bodies, refuses exactly those that write a key twice", () => {
    // Keys repeat across objects and strings hold colons and quotes, which the counts must not mistake for keys.
    // mulberry32: the same bodies on every run.
    let seed = 7;
    const next = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
    };
    const words = ["a", "b", ":", '"', '":', " ", "\\", "10:00"];
    const text = () => Array.from({ length: next(4) }, () => words[next(words.length)]).join("");
    const value = (depth: number): string => {
      const kind = depth > 3 ? next(3) : next(5);
      if (kind === 0) return String(next(100));
      if (kind === 1 || kind === 2) return JSON.stringify(text());
      const items = Array.from({ length: next(4) }, () => value(depth + 1));
      if (kind === 3) return `[${items.join(",")}]`;
      // Keys from a few, some written twice on purpose.
      const keys = items.map(() => JSON.stringify(words[next(4)]));
      return `{${items.map((item, i) => `${keys[i]} : ${item}`).join(",")}}`;
    };
    let twice = 0;
    for (let round = 0; round < 2000; round++) {
      const body = value(0);
      let refused = false;
      try {
        parseJsonBody(body);
      } catch {
        refused = true;
      }
      expect(refused, body).toBe(writesAKeyTwice(body));
      if (refused) twice++;
    }
    // Both kinds were tried, many times each.
    expect(twice).toBeGreaterThan(100);
    expect(twice).toBeLessThan(1800);
  });
});

/** Whether JSON text (valid) writes a key twice in one object: every key read, one by one, as a test may afford. */
function writesAKeyTwice(text: string): boolean {
  const seen: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") {
      seen.push(new Set());
      expectKey = true;
    } else if (c === "[") {
      seen.push(null);
    } else if (c === "}" || c === "]") {
      seen.pop();
    } else if (c === ",") {
      expectKey = seen.at(-1) !== null;
    } else if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        const keys = seen.at(-1)!;
        if (keys.has(key)) return true;
        keys.add(key);
        expectKey = false;
      }
      i = end;
    }
  }
  return false;
}
