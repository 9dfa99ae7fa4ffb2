import { parsePathTemplate, type PathTemplate, type PlainSegment } from "./path-template.js";

/** A path template ready to match request paths. */
export interface CompiledTemplate {
  readonly template: PathTemplate;
  /**
   * The template's shape with variable names erased, such as `/v1/shelves/*:publish`: two
   * templates with the same shape match exactly the same paths.
   */
  readonly shape: string;
  /** The bound field paths, dotted (`book.name`), in template order. */
  readonly fieldPaths: readonly string[];
  /**
   * Matches a request path (the raw, still percent-encoded path without the query) and returns
   * the captured variables by dotted field path, or undefined when the path does not match.
   */
  match(path: string): Record<string, string> | undefined;
  /**
   * As `match`, given the path already split on "/" (see splitRequestPath), so a router that
   * tries many templates splits a request's path once. The array is not changed.
   */
  matchSplit(components: readonly string[]): Record<string, string> | undefined;
}

/** A request path split on "/" for `matchSplit`: undefined when it does not start with "/"; "/" alone has no segments. */
export function splitRequestPath(path: string): string[] | undefined {
  if (!path.startsWith("/")) return undefined;
  return path === "/" ? [] : path.slice(1).split("/");
}

/** A variable's place in the flattened segment list: it captures segments [start, end). */
interface Capture {
  readonly fieldPath: string;
  readonly start: number;
  readonly end: number;
  readonly multiSegment: boolean;
}

/**
 * Compiles a path template (a string, parsed with parsePathTemplate, or an already parsed one).
 *
 * Matching follows grpc-gateway: the path is split on "/" before decoding, so `%2F` never splits;
 * a `{var}` of one segment is fully percent-decoded; a multi-segment capture (`{var=a/*}`,
 * `{var=**}`) is decoded segment by segment, keeping `%2F` encoded, and joined with "/". The
 * verb is matched on the raw path, so an encoded colon (`%3A`) is part of the name, never a
 * verb; a template without a verb matches a last segment that has a colon as a whole.
 * Where grpc-gateway is looser: `*` does not match an empty segment, so a trailing slash or
 * `//` only matches a `**`, and a malformed escape (`%zz`) matches nothing.
 */
export function compileTemplate(template: string | PathTemplate, where?: string): CompiledTemplate {
  const parsed = typeof template === "string" ? parsePathTemplate(template, where) : template;
  const flat: PlainSegment[] = [];
  const captures: Capture[] = [];
  for (const segment of parsed.segments) {
    if (segment.kind !== "variable") {
      flat.push(segment);
      continue;
    }
    const start = flat.length;
    flat.push(...segment.segments);
    const multiSegment = segment.segments.length > 1 || segment.segments[0]?.kind === "deep-wildcard";
    captures.push({ fieldPath: segment.fieldPath.join("."), start, end: flat.length, multiSegment });
  }
  const verbSuffix = parsed.verb === undefined ? undefined : `:${parsed.verb}`;
  const shape =
    "/" +
    flat
      .map((s) => (s.kind === "literal" ? encodeURIComponent(s.value) : s.kind === "wildcard" ? "*" : "**"))
      .join("/") +
    (verbSuffix ?? "");

  // Without a `**` a template takes exactly as many segments as it has: a router tries many
  // templates per request, and most fail on the count before any segment is compared.
  const segmentCount = flat.some((s) => s.kind === "deep-wildcard") ? undefined : flat.length;
  const matchSplit = (split: readonly string[]): Record<string, string> | undefined => {
    if (segmentCount !== undefined && split.length !== segmentCount) return undefined;
    const components = withoutVerb(split, verbSuffix);
    if (components === undefined) return undefined;
    const spans = matchSegments(flat, components);
    if (spans === undefined) return undefined;
    const variables: Record<string, string> = {};
    for (const capture of captures) {
      const from = spans[capture.start] as number;
      const to = spans[capture.end] as number;
      const value = capture.multiSegment
        ? joinDecoded(components.slice(from, to))
        : to - from === 1
          ? decodeComponent(components[from] as string)
          : undefined;
      if (value === undefined) return undefined;
      variables[capture.fieldPath] = value;
    }
    return variables;
  };

  return {
    template: parsed,
    shape,
    fieldPaths: captures.map((c) => c.fieldPath),
    match(path) {
      const components = splitRequestPath(path);
      return components === undefined ? undefined : matchSplit(components);
    },
    matchSplit,
  };
}

// The path's segments with the verb taken off the last one when the template has a verb
// (a copy then, as the router passes the same segments to every template).
function withoutVerb(components: readonly string[], verbSuffix: string | undefined): readonly string[] | undefined {
  if (verbSuffix === undefined) return components;
  const last = components.at(-1);
  if (last === undefined || !last.endsWith(verbSuffix)) return undefined;
  const stripped = components.slice();
  stripped[stripped.length - 1] = last.slice(0, -verbSuffix.length);
  return stripped;
}

/**
 * Matches the flattened template against the path segments. Returns, for each template segment
 * and one past the end, the index of the first path segment it took. As in grpc-gateway, the one
 * `**` takes every segment but those the fixed segments after it need, so they match from the end.
 */
function matchSegments(flat: readonly PlainSegment[], components: readonly string[]): number[] | undefined {
  const spans: number[] = [];
  let pos = 0;
  for (let i = 0; i < flat.length; i++) {
    const segment = flat[i] as PlainSegment;
    spans.push(pos);
    if (segment.kind === "deep-wildcard") {
      const tail = flat.length - i - 1;
      if (components.length - tail < pos) return undefined;
      pos = components.length - tail;
      continue;
    }
    const component = components[pos];
    if (component === undefined || component === "") return undefined;
    // A segment without "%" decodes to itself.
    if (
      segment.kind === "literal" &&
      (component.includes("%") ? decodeComponent(component) : component) !== segment.value
    )
      return undefined;
    pos++;
  }
  spans.push(pos);
  return pos === components.length ? spans : undefined;
}

function decodeComponent(component: string): string | undefined {
  if (!component.includes("%")) return component;
  try {
    return decodeURIComponent(component);
  } catch {
    return undefined;
  }
}

// http.proto: multi-segment variables are decoded "except %2F and %2f are left unchanged",
// so a captured name keeps telling its own slashes from the path's.
function joinDecoded(parts: readonly string[]): string | undefined {
  const decoded: string[] = [];
  for (const part of parts) {
    const pieces = part.split(/%2F/i);
    const slashes = part.match(/%2F/gi) ?? [];
    let joined = "";
    for (const [i, piece] of pieces.entries()) {
      const text = decodeComponent(piece);
      if (text === undefined) return undefined;
      joined += text + (slashes[i] ?? "");
    }
    decoded.push(joined);
  }
  return decoded.join("/");
}
