import { SetupError } from "../errors/setup-error.js";

/** A path segment that binds nothing: a literal, `*` (one segment) or `**` (zero or more, at most one per template). */
export type PlainSegment =
  | { readonly kind: "literal"; readonly value: string }
  | { readonly kind: "wildcard" }
  | { readonly kind: "deep-wildcard" };

/** `{field.path=Segments}`: binds the request path matched by `segments` to a request field. */
export interface VariableSegment {
  readonly kind: "variable";
  /** The field path as written in the proto (proto names, not JSON names). */
  readonly fieldPath: readonly string[];
  /** What the variable matches; `{field}` is `{field=*}`. */
  readonly segments: readonly PlainSegment[];
}

/** One top-level segment of a path template. */
export type PathSegment = PlainSegment | VariableSegment;

/** A parsed `google.api.http` path template (`Template = "/" Segments [ Verb ]`). */
export interface PathTemplate {
  readonly template: string;
  readonly segments: readonly PathSegment[];
  /** The custom verb after the final `:`, such as `publish`; undefined when there is none. */
  readonly verb: string | undefined;
}

// RFC 3986 pchar without "%" (escapes are checked apart) and without ":" and "*", which
// the grammar gives meaning to and the parser handles itself.
const literalChar = /[A-Za-z0-9\-._~!$&'()+,;=@]/;
const identStart = /[A-Za-z_]/;
const identChar = /[A-Za-z0-9_]/;

/**
 * Parses a path template with the grammar of google/api/http.proto. `where` names the
 * binding in errors (for example the RPC). Throws a SetupError with the column on any mistake.
 *
 * As grpc-gateway does, "/" alone is accepted (it matches only "/"), a literal may hold ":",
 * the verb starts at the last ":" of the final segment (the first ":" after a final variable), and
 * fixed segments may follow the template's one `**`, where http.proto wants it last (Firestore's
 * CreateDocument binds `/v1/{parent=projects/…/documents/**}/{collection_id}`).
 */
export function parsePathTemplate(template: string, where = "google.api.http"): PathTemplate {
  return new TemplateParser(template, where).parse();
}

/** Recursive descent over the template; `pos` is the index of the next unread character. */
class TemplateParser {
  private pos = 0;
  private readonly bound: string[] = [];

  constructor(
    private readonly template: string,
    private readonly where: string,
  ) {}

  parse(): PathTemplate {
    if (!this.template.startsWith("/")) this.fail(0, 'a template must start with "/"');
    this.pos = 1;
    if (this.template === "/") return { template: this.template, segments: [], verb: undefined };
    const segments = this.segments(false);
    let verb: string | undefined;
    if (this.peek() === ":") {
      this.pos++;
      verb = this.verb();
    }
    if (this.pos < this.template.length) this.fail(this.pos, `unexpected ${JSON.stringify(this.peek())}`);
    this.checkOneDeepWildcard(segments);
    return { template: this.template, segments, verb };
  }

  private segments(inVariable: boolean): PathSegment[] {
    const segments: PathSegment[] = [this.segment(inVariable)];
    while (this.peek() === "/") {
      this.pos++;
      segments.push(this.segment(inVariable));
    }
    return segments;
  }

  private segment(inVariable: boolean): PathSegment {
    const start = this.pos;
    const c = this.peek();
    if (c === undefined || c === "/" || (inVariable && c === "}"))
      this.fail(start, "empty segment; a template has no empty segments or trailing /");
    if (c === "{") {
      if (inVariable) this.fail(start, "a variable cannot contain another variable");
      return this.variable();
    }
    if (c === "*") {
      while (this.peek() === "*") this.pos++;
      const stars = this.pos - start;
      if (stars > 2 || !this.atSegmentEnd(inVariable)) this.fail(start, "a wildcard is * or ** alone in its segment");
      return stars === 1 ? { kind: "wildcard" } : { kind: "deep-wildcard" };
    }
    return { kind: "literal", value: this.literal(inVariable) };
  }

  private atSegmentEnd(inVariable: boolean): boolean {
    const c = this.peek();
    return c === undefined || c === "/" || c === ":" || (inVariable && c === "}");
  }

  private literal(inVariable: boolean): string {
    const start = this.pos;
    let value = "";
    for (let c = this.peek(); c !== undefined && c !== "/"; c = this.peek()) {
      if (c === "}" && inVariable) break;
      if (c === ":" && !inVariable && this.isVerbColon()) break;
      if (c === "%") {
        const hex = this.template.slice(this.pos + 1, this.pos + 3);
        if (!/^[0-9A-Fa-f]{2}$/.test(hex)) this.fail(this.pos, "a % must start an escape such as %2F");
        value += this.template.slice(this.pos, this.pos + 3);
        this.pos += 3;
        continue;
      }
      if (c === ":" && inVariable) this.fail(this.pos, "a :verb cannot be inside a variable");
      if (c !== ":" && !literalChar.test(c))
        this.fail(this.pos, `${JSON.stringify(c)} is not allowed in a literal; percent-encode it`);
      value += c;
      this.pos++;
    }
    if (value === "") this.fail(start, "a segment cannot be only a :verb; the verb follows a segment");
    try {
      return decodeURIComponent(value);
    } catch {
      this.fail(start, "the escapes in this literal are not valid UTF-8");
    }
  }

  // As in grpc-gateway, the verb starts at the last ":" of the final segment, so a literal
  // may hold colons (`/v1/a:b:verb` is the literal "a:b" and the verb "verb").
  private isVerbColon(): boolean {
    return !this.template.includes("/", this.pos) && !this.template.includes(":", this.pos + 1);
  }

  private variable(): VariableSegment {
    const open = this.pos++;
    const fieldPath = [this.ident()];
    while (this.peek() === ".") {
      this.pos++;
      fieldPath.push(this.ident());
    }
    this.bind(fieldPath, open);
    let segments: PlainSegment[] = [{ kind: "wildcard" }];
    if (this.peek() === "=") {
      this.pos++;
      segments = this.segments(true).filter((s): s is PlainSegment => s.kind !== "variable");
    }
    if (this.peek() !== "}") {
      if (this.peek() === undefined) this.fail(open, "this { is never closed");
      this.fail(this.pos, `expected "}" to close the variable, found ${JSON.stringify(this.peek())}`);
    }
    this.pos++;
    const next = this.peek();
    if (next !== undefined && next !== "/" && next !== ":")
      this.fail(this.pos, "a variable fills its whole segment; expected / or :verb after }");
    return { kind: "variable", fieldPath, segments };
  }

  private ident(): string {
    const start = this.pos;
    const first = this.peek();
    if (first === undefined || !identStart.test(first))
      this.fail(start, "expected a field name (letters, digits and _, not starting with a digit)");
    this.pos++;
    while (identChar.test(this.peek() ?? "")) this.pos++;
    return this.template.slice(start, this.pos);
  }

  // A field bound twice, or inside a bound field, would receive two values from one path.
  private bind(fieldPath: readonly string[], column: number): void {
    const name = fieldPath.join(".");
    for (const other of this.bound) {
      if (other === name) this.fail(column, `field ${name} is bound twice`);
      if (name.startsWith(`${other}.`) || other.startsWith(`${name}.`))
        this.fail(column, `fields ${other} and ${name} overlap; bind one or the other`);
    }
    this.bound.push(name);
  }

  private verb(): string {
    const start = this.pos;
    const verb = this.template.slice(start);
    if (verb === "") this.fail(start - 1, "the :verb after the last segment is empty");
    for (let i = 0; i < verb.length; i++) {
      const c = verb[i] as string;
      if (!literalChar.test(c) && c !== "%")
        this.fail(start + i, `${JSON.stringify(c)} is not allowed in a :verb; a verb is a literal`);
    }
    this.pos = this.template.length;
    return verb;
  }

  // http.proto puts "**" last; grpc-gateway also takes fixed segments after it, matched from the
  // end of the path, which leaves room for only one "**" (Google's published APIs rely on this).
  private checkOneDeepWildcard(segments: readonly PathSegment[]): void {
    const flat = segments.flatMap((s) => (s.kind === "variable" ? s.segments : [s]));
    if (flat.filter((s) => s.kind === "deep-wildcard").length > 1) {
      const second = this.template.indexOf("**", this.template.indexOf("**") + 2);
      this.fail(second, "a template has at most one **; write * for the segments that are one each");
    }
  }

  private peek(): string | undefined {
    return this.template[this.pos];
  }

  private fail(index: number, message: string): never {
    throw new SetupError("TSM_ERR_HTTP_TEMPLATE", this.where, JSON.stringify(this.template), index + 1, message);
  }
}
