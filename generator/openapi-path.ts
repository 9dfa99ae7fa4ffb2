/** A variable of a `google.api.http` path template, as OpenAPI names it. */
export interface PathVariable {
  /** The field path as written in the proto (`book.name`); also the OpenAPI parameter name. */
  readonly fieldPath: string;
  /** What the variable matches (`shelves/*`, `**`); `*` for a bare `{field}`. */
  readonly pattern: string;
}

/** A path template rewritten for OpenAPI: `{name=shelves/*}` becomes `{name}`, custom verbs stay. */
export interface OpenApiPath {
  readonly path: string;
  readonly variables: readonly PathVariable[];
}

/**
 * Rewrites a path template's variables to OpenAPI path parameters. The
 * template's grammar is checked where routes are served (the gateway); here
 * an unparseable variable is left as written.
 */
export function toOpenApiPath(template: string): OpenApiPath {
  const variables: PathVariable[] = [];
  const path = template.replace(/\{([^{}=]+)(?:=([^{}]*))?\}/g, (_, fieldPath: string, pattern: string | undefined) => {
    variables.push({ fieldPath: fieldPath.trim(), pattern: pattern?.trim() || "*" });
    return `{${fieldPath.trim()}}`;
  });
  return { path, variables };
}
