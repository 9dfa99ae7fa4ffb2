/**
 * Keeps secrets out of logs, whatever code logs them: values under keys named
 * like credentials (at any depth), JWTs and bearer tokens anywhere in a
 * string, credentials in URL query strings and passwords in URLs
 * (`postgres://app:s3cret@db`). Runs only when a line is
 * written, so it costs nothing for lines below the level.
 */

/**
 * Keys named like credentials: `authorization`, `password`, `passphrase`, `pwd`, `client_secret`,
 * `accessToken`, `cookie`, `aws_access_key_id`… Their values are never logged, and config shows
 * them (and what is under them) as secret.
 */
export const secretKey =
  /(pass(word|wd|phrase)?|pwd)$|secret|token|authorization|cookie|api[-_]?key|access[-_]?key|credential|private[-_]?key/i;

/** Keys whose values are never logged besides those: a session id, a token or a signature under its bare name. */
const loggedSecretKey = /^(session(_?id)?|sid|jwt|sig(nature)?)$/i;

function isSecretKey(key: string): boolean {
  return secretKey.test(key) || loggedSecretKey.test(key);
}

/** Three base64url parts, the first a JSON header (`eyJ`): a JWS or JWT. */
const jwt = /eyJ[\w-]*\.[\w-]*\.[\w-]*/g;
const bearer = /\b(bearer|basic)\s+[\w.~+/=-]+/gi;
/** A Digest credential runs to the end of its line: `Digest username="…", response="…"`. */
const digest = /\b(digest)\s+[^\r\n]+/gi;
/** A header written as text, `Cookie: sid=…`: the rest of its line. */
const secretHeaderLine = /\b(cookie|set-cookie|authorization|proxy-authorization)(\s*:\s*)[^\r\n]+/gi;
/** `password=…`, `access_token=…`, `X-Amz-Signature=…` in a query string or form body, its `=` percent-encoded too. */
const secretParameter =
  /\b([\w-]*(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|signature))(=|%3D)[^&\s"']*/gi;
/** An OAuth `code=…` or a `sig=…` as a URL's query parameter (in prose, `code=1` is an exit code). */
const secretQueryParameter = /([?&])(code|sig)=[^&\s"'#]*/gi;
/**
 * `scheme://user:password@host`: the password in a URL, such as a database URL's, to the last `@`
 * before the host (a password may hold one).
 */
export const urlPassword = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^/?#\s]*@/gi;

/**
 * `user:password@host:port` without a scheme, as go-micro users write an etcd endpoint
 * (`--registry_address app:PASSWORD@etcd-1:2379`): the password, to the last `@` before the host.
 */
const hostPortPassword = /(^|[\s=,"'(])([^\s:/?#@"',=()]+:)[^\s/?#"',]*@(?=[^\s@/?#"',:]+:\d)/g;

export const redacted = "[redacted]";

/** A string with JWTs, bearer credentials, secret query parameters and passwords in URLs replaced. */
export function redactText(text: string): string {
  if (
    !text.includes("eyJ") &&
    !text.includes("=") &&
    !text.includes("://") &&
    !text.includes("@") &&
    !mayHoldCredential.test(text)
  )
    return text;
  return text
    .replace(jwt, redacted)
    .replace(secretHeaderLine, (_match, name: string, colon: string) => `${name}${colon}${redacted}`)
    .replace(bearer, (_match, scheme: string) => `${scheme} ${redacted}`)
    .replace(digest, (_match, scheme: string) => `${scheme} ${redacted}`)
    .replace(secretParameter, (_match, name: string, equals: string) => `${name}${equals}${redacted}`)
    .replace(secretQueryParameter, (_match, start: string, name: string) => `${start}${name}=${redacted}`)
    .replace(urlPassword, `$1${redacted}@`)
    .replace(hostPortPassword, `$1$2${redacted}@`);
}

/** Words that start a credential without an `=`: most texts have none, and skip the replacements. */
const mayHoldCredential = /bearer|basic|digest|cookie|authorization/i;

/** Objects nested deeper than this are not walked: they are logged as a marker, whatever they hold. */
const maxDepth = 16;

/** `value` with secrets replaced; objects are copied, never changed in place. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object") return value;
  // Deeper than any line needs (or a cycle): not walked, so nothing under it can leak.
  if (depth > maxDepth) return "[nested too deep to log]";
  if (value instanceof Uint8Array) return value;
  if (value instanceof Error) return redactError(value, depth);
  if (Array.isArray(value)) return redactList(value, depth);
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) copy[key] = redactField(key, field, depth + 1);
  return copy;
}

/**
 * A list, redacted; in a list of header names and values (node's `rawHeaders`: `["Cookie",
 * "sid=…"]`), the value after a name that names a credential is redacted whole.
 */
function redactList(list: readonly unknown[], depth: number): unknown[] {
  return list.map((item, i) => {
    const before = list[i - 1];
    if (typeof before === "string" && typeof item === "string" && isHeaderName(before) && isSecretKey(before))
      return redacted;
    return redactValue(item, depth + 1);
  });
}

function isHeaderName(text: string): boolean {
  return /^[A-Za-z][\w-]*$/.test(text);
}

/** The value of field `key`, redacted: all of it when the key names a credential. */
export function redactField(key: string, value: unknown, depth = 0): unknown {
  return isSecretKey(key) && value !== undefined && value !== null ? redacted : redactValue(value, depth);
}

/** An error as pino prints it (`type`, `message`, `stack`, own fields), redacted. */
function redactError(error: Error, depth: number): Record<string, unknown> {
  const fields: Record<string, unknown> = { type: error.constructor.name, message: error.message };
  if (error.stack) fields.stack = error.stack;
  for (const [key, field] of Object.entries(error)) fields[key] = field;
  if (error.cause !== undefined) fields.cause = error.cause;
  return redactErrorFields(fields, depth + 1);
}

/**
 * An error's fields (as pino's serializer gives them), redacted. A database error's query
 * parameters are the row's values (names, e-mails, passwords under any column name): the query
 * says what failed, and they stay out.
 */
export function redactErrorFields(fields: Record<string, unknown>, depth = 0): Record<string, unknown> {
  const redactedFields = redactValue(fields, depth) as Record<string, unknown>;
  if (typeof fields.query === "string" && Array.isArray(fields.params)) redactedFields.params = redacted;
  return redactedFields;
}
