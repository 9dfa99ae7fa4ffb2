/**
 * Keeps secrets out of logs, whatever code logs them: values under keys named
 * like credentials (at any depth), JWTs and bearer tokens anywhere in a
 * string, credentials in URL query strings and passwords in URLs
 * (`postgres://app:s3cret@db`). Runs only when a line is
 * written, so it costs nothing for lines below the level.
 */

/** Keys whose values are never logged: `authorization`, `password`, `pwd`, `client_secret`, `accessToken`, `cookie`… */
export const secretKey =
  /(pass(word|wd)?|pwd)$|secret|token|authorization|cookie|api[-_]?key|credential|private[-_]?key/i;

/** Three base64url parts, the first a JSON header (`eyJ`): a JWS or JWT. */
const jwt = /eyJ[\w-]*\.[\w-]*\.[\w-]*/g;
const bearer = /\b(bearer|basic)\s+[\w.~+/=-]+/gi;
/** `password=…`, `access_token=…` in a query string or form body. */
const secretParameter = /\b([\w-]*(?:pass(?:word|wd)?|pwd|secret|token|api[-_]?key))=[^&\s"']*/gi;
/** `scheme://user:password@host`: the password in a URL, such as a database URL's. */
export const urlPassword = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@/?#\s]+@/gi;

export const redacted = "[redacted]";

/** A string with JWTs, bearer credentials, secret query parameters and passwords in URLs replaced. */
export function redactText(text: string): string {
  if (!text.includes("eyJ") && !text.includes("=") && !text.includes("://") && !/bearer|basic/i.test(text)) return text;
  return text
    .replace(jwt, redacted)
    .replace(bearer, (_match, scheme: string) => `${scheme} ${redacted}`)
    .replace(secretParameter, (_match, name: string) => `${name}=${redacted}`)
    .replace(urlPassword, `$1${redacted}@`);
}

/** `value` with secrets replaced; objects are copied, never changed in place. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object" || depth > 8) return value;
  if (value instanceof Uint8Array) return value;
  if (value instanceof Error) return redactError(value, depth);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) copy[key] = redactField(key, field, depth + 1);
  return copy;
}

/** The value of field `key`, redacted: all of it when the key names a credential. */
export function redactField(key: string, value: unknown, depth = 0): unknown {
  return secretKey.test(key) && value !== undefined && value !== null ? redacted : redactValue(value, depth);
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
