import { parsePathTemplate, type PathTemplate, type PlainSegment } from "./path-template.js";

/**
 * A request path two path templates both match, or undefined when no path matches both. Routes
 * of one HTTP method whose templates overlap (Firestore's GetDocument
 * `/v1/{name=projects/*\/databases/*\/documents/*\/**}` and ListDocuments
 * `/v1/{parent=projects/*\/databases/*\/documents/*\/**}/{collection_id}`) share those paths, and
 * the router gives each to the route registered last, as grpc-gateway does. A template without a
 * verb takes `x:verb` in its last segment, as the router matches it. Each template has at most one
 * `**`, so the search is over pairs of positions: O(a x b).
 */
export function overlappingPath(a: string | PathTemplate, b: string | PathTemplate): string | undefined {
  const left = typeof a === "string" ? parsePathTemplate(a) : a;
  const right = typeof b === "string" ? parsePathTemplate(b) : b;
  let fa = flatten(left);
  let fb = flatten(right);
  const verb = left.verb ?? right.verb;
  if (left.verb !== right.verb) {
    if (left.verb !== undefined && right.verb !== undefined) return undefined;
    // The template without the verb must take `<segment>:verb` as its last segment.
    const taken = takeVerb(left.verb === undefined ? fa : fb, verb as string);
    if (!taken) return undefined;
    if (left.verb === undefined) fa = taken;
    else fb = taken;
  }
  const segments = commonPath(fa, fb);
  if (!segments) return undefined;
  return `/${segments.map(encodeURIComponent).join("/")}${verb === undefined ? "" : `:${verb}`}`;
}

function flatten(template: PathTemplate): PlainSegment[] {
  return template.segments.flatMap((s) => (s.kind === "variable" ? s.segments : [s]));
}

/** The segments as they match a path whose last segment ends in `:verb`, with that suffix taken off. */
function takeVerb(segments: readonly PlainSegment[], verb: string): PlainSegment[] | undefined {
  const last = segments.at(-1);
  if (last === undefined) return undefined;
  if (last.kind !== "literal") return [...segments];
  const suffix = `:${verb}`;
  if (!last.value.endsWith(suffix) || last.value.length === suffix.length) return undefined;
  return [...segments.slice(0, -1), { kind: "literal", value: last.value.slice(0, -suffix.length) }];
}

/**
 * Segments both lists match, searched breadth first over (position in a, position in b): both
 * take one segment, or a `**` takes the other's segment, or a `**` ends.
 */
function commonPath(a: readonly PlainSegment[], b: readonly PlainSegment[]): string[] | undefined {
  const width = b.length + 1;
  const from = new Map<number, { previous: number; segment: string | undefined }>([
    [0, { previous: -1, segment: undefined }],
  ]);
  const queue = [0];
  const goal = a.length * width + b.length;
  const visit = (previous: number, i: number, j: number, segment: string | undefined) => {
    const state = i * width + j;
    if (from.has(state)) return;
    from.set(state, { previous, segment });
    queue.push(state);
  };
  for (let head = 0; head < queue.length; head++) {
    const state = queue[head] as number;
    const i = Math.floor(state / width);
    const j = state % width;
    const sa = a[i];
    const sb = b[j];
    if (sa?.kind === "deep-wildcard") {
      visit(state, i + 1, j, undefined);
      if (sb !== undefined && sb.kind !== "deep-wildcard") visit(state, i, j + 1, sample(sb));
    }
    if (sb?.kind === "deep-wildcard") {
      visit(state, i, j + 1, undefined);
      if (sa !== undefined && sa.kind !== "deep-wildcard") visit(state, i + 1, j, sample(sa));
    }
    if (sa && sb && sa.kind !== "deep-wildcard" && sb.kind !== "deep-wildcard") {
      if (sa.kind === "literal" && sb.kind === "literal" && sa.value !== sb.value) continue;
      visit(state, i + 1, j + 1, sa.kind === "literal" ? sa.value : sample(sb));
    }
  }
  if (!from.has(goal)) return undefined;
  const segments: string[] = [];
  for (let state = goal; state > 0; ) {
    const step = from.get(state) as { previous: number; segment: string | undefined };
    if (step.segment !== undefined) segments.unshift(step.segment);
    state = step.previous;
  }
  return segments;
}

/** A value a segment matches: the literal, or `x` for a wildcard. */
function sample(segment: PlainSegment): string {
  return segment.kind === "literal" ? segment.value : "x";
}
