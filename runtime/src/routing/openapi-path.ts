import { parsePathTemplate, type PlainSegment } from "./path-template.js";

/**
 * The operationId of a method's HTTP binding: `Library_GetShelf` for its first binding,
 * `Library_GetShelf_1` for the next (the binding's index among the method's bindings).
 */
export function openApiOperationId(serviceName: string, methodName: string, index: number): string {
  return `${serviceName}_${methodName}${index > 0 ? `_${index}` : ""}`;
}

/** A path parameter of an expanded OpenAPI path. */
export interface PathParameter {
  /** The OpenAPI parameter name, unique in its path. */
  readonly name: string;
  /** The request field (dotted proto names) the parameter fills, alone or with others; undefined for a wildcard outside any variable. */
  readonly fieldPath: string | undefined;
  /**
   * What the gateway sets the field to, in terms of the path's parameters: `{shelf}` when the
   * parameter is the whole value, `shelves/{shelf}/books/{book}` when the variable spans segments.
   */
  readonly fieldValue: string;
  /** True for `**`: zero or more segments, so the value may hold "/". */
  readonly multiSegment: boolean;
}

/** A path template as an OpenAPI path: literal segments spelled out, one parameter per wildcard. */
export interface OpenApiPath {
  readonly path: string;
  readonly parameters: readonly PathParameter[];
  /** Every request field the path sets (dotted proto names), those of variables without wildcards included. */
  readonly boundFields: readonly string[];
}

/** One piece of an expanded path: literal text or the index of a parameter. */
type Piece = string | number;

interface Draft {
  readonly fieldPath: string | undefined;
  /** The name it would like: the field path, or the singular of the collection before it. */
  readonly wanted: string;
  /** Whole-field names are kept as they are; names derived from a collection give way. */
  readonly whole: boolean;
  readonly multiSegment: boolean;
  /** The variable's pieces, for `fieldValue`. */
  readonly value: Piece[];
}

/**
 * Expands a `google.api.http` path template into its OpenAPI path, as Google's OpenAPI v3
 * generator (gnostic) does: a variable spanning segments is written out, each of its wildcards
 * becoming a parameter named after the collection before it, so `/v1/{name=shelves/*}/books`
 * becomes `/v1/shelves/{shelf}/books` and templates that differ only inside a variable stay
 * distinct paths. A variable of one segment (`{shelf}`, `{path=**}`) stays one parameter named
 * by its field path. Clients then call the real segments, which the gateway matches, instead of
 * percent-encoding a "/" inside one parameter. `names`, when given, renames the parameters in
 * order (to list the operation under an equivalent path already named otherwise).
 *
 * The template must be valid (the generator compiles every route before this); a bad one throws
 * TSM_ERR_HTTP_TEMPLATE.
 */
export function toOpenApiPath(template: string, names?: readonly string[]): OpenApiPath {
  const parsed = parsePathTemplate(template);
  const drafts: Draft[] = [];
  const pieces: Piece[] = [];
  const boundFields: string[] = [];
  let previous: string | undefined;
  for (const segment of parsed.segments) {
    if (segment.kind !== "variable") {
      pieces.push(plainPiece(segment, previous, undefined, drafts));
      previous = segment.kind === "literal" ? segment.value : undefined;
      continue;
    }
    const fieldPath = segment.fieldPath.join(".");
    boundFields.push(fieldPath);
    const [only] = segment.segments;
    if (segment.segments.length === 1 && only && only.kind !== "literal") {
      const index = drafts.length;
      drafts.push({
        fieldPath,
        wanted: fieldPath,
        whole: true,
        multiSegment: only.kind === "deep-wildcard",
        value: [index],
      });
      pieces.push(index);
      previous = undefined;
      continue;
    }
    const first = drafts.length;
    const value: Piece[] = [];
    const fallback = segment.fieldPath.at(-1) as string;
    let inner: string | undefined;
    for (const part of segment.segments) {
      const piece = plainPiece(part, inner, { fieldPath, fallback }, drafts);
      value.push(piece);
      pieces.push(piece);
      inner = part.kind === "literal" ? part.value : undefined;
    }
    for (const draft of drafts.slice(first)) draft.value.push(...value);
    previous = inner;
  }

  const chosen = names ?? uniqueNames(drafts);
  const render = (list: readonly Piece[]) =>
    list.map((p) => (typeof p === "number" ? `{${chosen[p] ?? ""}}` : p)).join("/");
  return {
    path: `/${render(pieces)}${parsed.verb === undefined ? "" : `:${parsed.verb}`}`,
    parameters: drafts.map((draft, i) => ({
      name: chosen[i] ?? draft.wanted,
      fieldPath: draft.fieldPath,
      fieldValue: render(draft.value),
      multiSegment: draft.multiSegment,
    })),
    boundFields,
  };
}

/** A segment that binds nothing by itself: a literal as it is written in a URL, or a new parameter. */
function plainPiece(
  segment: PlainSegment,
  previous: string | undefined,
  variable: { fieldPath: string; fallback: string } | undefined,
  drafts: Draft[],
): Piece {
  if (segment.kind === "literal") return encodeLiteral(segment.value);
  const fallback = variable?.fallback ?? (segment.kind === "wildcard" ? "segment" : "path");
  drafts.push({
    fieldPath: variable?.fieldPath,
    wanted: (previous === undefined ? undefined : identifier(singular(previous))) ?? identifier(fallback) ?? "param",
    whole: false,
    multiSegment: segment.kind === "deep-wildcard",
    // Inside a variable the whole variable's pieces are added once it is read.
    value: variable ? [] : [drafts.length],
  });
  return drafts.length - 1;
}

// Whole-field parameters keep their field path; derived names take the first free of name, name2, …
function uniqueNames(drafts: readonly Draft[]): string[] {
  const taken = new Set(drafts.filter((d) => d.whole).map((d) => d.wanted));
  return drafts.map((draft) => {
    if (draft.whole) return draft.wanted;
    let name = draft.wanted;
    for (let n = 2; taken.has(name); n++) name = `${draft.wanted}${n}`;
    taken.add(name);
    return name;
  });
}

/**
 * The singular of a collection name, by the English rules resource collections follow
 * (`shelves` -> `shelf`, `policies` -> `policy`, `indexes` -> `index`, `books` -> `book`);
 * a name that is not plural is kept.
 */
export function singular(collection: string): string {
  if (/[^aeiou]ies$/i.test(collection)) return `${collection.slice(0, -3)}y`;
  if (/lves$/i.test(collection)) return `${collection.slice(0, -3)}f`;
  if (/(ss|sh|ch|x)es$/i.test(collection)) return collection.slice(0, -2);
  if (/[^su]s$/i.test(collection)) return collection.slice(0, -1);
  return collection;
}

// lowerCamel over anything but letters and digits (`key-rings` -> `keyRings`); undefined if nothing is left.
function identifier(text: string): string | undefined {
  const words = text.split(/[^A-Za-z0-9]+/).filter((w) => w !== "");
  const name = words.map((w, i) => (i === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1))).join("");
  return /^[A-Za-z]/.test(name) ? name : undefined;
}

// Literals are parsed decoded; a URL carries them percent-encoded where RFC 3986 asks.
function encodeLiteral(value: string): string {
  return value.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]/gu, (c) => encodeURIComponent(c));
}

/** How an OpenAPI path is listed among others, by createPathSpellings. */
export interface PathSpelling {
  /** The path as listed: the first spelling seen of its shape. */
  readonly path: string;
  /** The path with its parameter names erased (`/v1/shelves/{}`): OpenAPI's notion of the same path. */
  readonly shape: string;
  /** The listed spelling's parameter names, in path order. */
  readonly names: readonly string[];
  /** The parameters whose names changed, old name to new; empty when the path was listed as given. */
  readonly renamed: ReadonlyMap<string, string>;
}

/** Lists OpenAPI paths so that paths OpenAPI holds to be the same are spelled one way. */
export interface PathSpellings {
  /** The spelling a path is listed under; the first path of a shape sets the spelling of that shape. */
  spell(path: string): PathSpelling;
}

/**
 * OpenAPI holds paths that differ only in parameter names (`/v1/shelves/{shelf}` and
 * `/v1/shelves/{name}`) to be one path, which one document may list only once. The first
 * spelling of a shape is recorded, and a later path of that shape takes its parameter names in
 * order. The generator spells the bindings of one file this way, the gateway those of every file
 * it merges into its `/openapi.json`.
 */
export function createPathSpellings(): PathSpellings {
  const spellings = new Map<string, readonly string[]>();
  return {
    spell(path) {
      const shape = path.replace(/\{[^}]*\}/g, "{}");
      const own = [...path.matchAll(/\{([^}]*)\}/g)].map((m) => m[1] as string);
      const names = spellings.get(shape) ?? own;
      if (!spellings.has(shape)) spellings.set(shape, own);
      const renamed = new Map<string, string>();
      own.forEach((name, i) => {
        const listed = names[i] ?? name;
        if (listed !== name) renamed.set(name, listed);
      });
      if (renamed.size === 0) return { path, shape, names, renamed };
      let i = 0;
      return { path: path.replace(/\{[^}]*\}/g, () => `{${names[i++] ?? ""}}`), shape, names, renamed };
    },
  };
}
