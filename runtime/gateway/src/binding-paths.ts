import type { HttpRule } from "@tsmicro/runtime";
import { parsePathTemplate, type PathTemplate, type PlainSegment } from "@tsmicro/runtime/internal";
import type { GatewayMethod } from "./gateway-method.js";
import type { RuleBinding } from "./route-rules.js";

/** A path segment as route rules see it; undefined is a value only a wildcard takes. */
type Segment = string | undefined;

/**
 * The request as each of the method's other `google.api.http` bindings would have carried it:
 * their method and path (under the gateway's `prefix`), the path's variables filled from the
 * request's fields (proto3 JSON, as built for the call). Route rules written for a path then
 * guard the method whatever way a request reaches it: another binding, its default route or
 * `POST /rpc`.
 */
export function otherBindings(
  target: GatewayMethod,
  taken: HttpRule | undefined,
  fields: unknown,
  prefix: string,
): RuleBinding[] {
  const valueAt = (fieldPath: readonly string[]): Segment[] | undefined => {
    const text = fieldText(target, fields, fieldPath);
    return text === undefined ? undefined : [text];
  };
  // Templates are parsed anew: only requests that route rules guard come here.
  return target.definition.http
    .filter((rule) => rule.method !== taken?.method || rule.path !== taken.path)
    .map((rule) => ({
      rpc: target.rpc,
      method: rule.method,
      segments: [...prefixSegments(prefix), ...renderedSegments(parsePathTemplate(rule.path), valueAt, "")],
    }));
}

/** A binding of a method, as an OpenAPI operation documents it. */
export interface DocumentedBinding {
  readonly method: string;
  /** The `google.api.http` template. */
  readonly template: string;
}

/**
 * For documentation, what otherBindings gives for any request to `own`: the other bindings'
 * paths with the values `own`'s template fixes (its literals) and wildcard-only segments for the
 * rest, so a rule applies to `own`'s operation only where it applies to every such request.
 */
export function bindingsBeside(
  rpc: string,
  own: DocumentedBinding,
  others: readonly DocumentedBinding[],
  prefix: string,
): RuleBinding[] {
  const shapes = new Map<string, Segment[]>();
  for (const segment of parsePathTemplate(own.template).segments)
    if (segment.kind === "variable") shapes.set(segment.fieldPath.join("."), segment.segments.flatMap(openSegment));
  const valueAt = (fieldPath: readonly string[]) => shapes.get(fieldPath.join("."));
  return others
    .filter((other) => other.method !== own.method || other.template !== own.template)
    .map((other) => ({
      rpc,
      method: other.method,
      segments: [...prefixSegments(prefix), ...renderedSegments(parsePathTemplate(other.template), valueAt, undefined)],
    }));
}

function prefixSegments(prefix: string): string[] {
  return prefix === "" ? [] : prefix.slice(1).split("/");
}

/** A template's segment where any value may stand: its literal, else one wildcard-only segment. */
function openSegment(segment: PlainSegment): Segment[] {
  return segment.kind === "literal" ? [segment.value] : [undefined];
}

/**
 * A template's path as decoded segments, with each variable's value from `valueAt`: a value
 * bound by `*` is one segment, a longer pattern's (`shelves/*`, `**`) is split at "/". Where
 * there is no value, the pattern's literals stay and each of its wildcards is `unknown`.
 */
function renderedSegments(
  template: PathTemplate,
  valueAt: (fieldPath: readonly string[]) => readonly Segment[] | undefined,
  unknown: Segment,
): Segment[] {
  const segments: Segment[] = [];
  const plain = (segment: PlainSegment): Segment[] =>
    segment.kind === "literal" ? [segment.value] : segment.kind === "wildcard" ? [unknown] : [];
  for (const segment of template.segments) {
    if (segment.kind !== "variable") {
      segments.push(...plain(segment));
      continue;
    }
    const value = valueAt(segment.fieldPath);
    const single = segment.segments.length === 1 && segment.segments[0]!.kind === "wildcard";
    if (value === undefined) segments.push(...segment.segments.flatMap(plain));
    else if (single || value.length !== 1 || value[0] === undefined) segments.push(...value);
    else segments.push(...value[0].split("/"));
  }
  if (template.verb !== undefined && segments.length > 0) {
    const last = segments.pop();
    segments.push(last === undefined ? undefined : `${last}:${template.verb}`);
  }
  return segments;
}

/** The text of the field at a proto field path in the request's JSON; undefined when unset or not a scalar. */
function fieldText(target: GatewayMethod, fields: unknown, fieldPath: readonly string[]): string | undefined {
  const jsonPath = target.requestField(fieldPath.join("."))?.jsonPath ?? fieldPath;
  let value = fields;
  for (const name of jsonPath) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[name];
  }
  return typeof value === "string" ||
    typeof value === "number" ||
    typeof value === "boolean" ||
    typeof value === "bigint"
    ? String(value)
    : undefined;
}
