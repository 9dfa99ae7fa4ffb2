/**
 * Which configuration values are secret, and how they are hidden. A value is
 * secret when its path is listed (a listed path hides its whole subtree) or
 * when any key on its path is named like a credential — the names the logger
 * redacts too (`password`, `secret`, `token`, `apiKey`, `privateKey`…).
 * Secrets are still handed to the code that reads them; they are hidden
 * only where values are printed: `tsmicro config`, logs, `redacted()`.
 */
import type { ConfigTree, ConfigValue } from "./config.js";
import { secretKey, urlPassword } from "../logging/redact.js";
import { isConfigTree, splitPath } from "./key-paths.js";

/** Printed in place of a secret value. */
export const secretMark = "[secret]";

/** Decides which paths hold secrets. */
export class SecretPaths {
  readonly #listed: readonly (readonly string[])[];

  /** `listed`: dotted paths marked secret besides those named like credentials, such as `database.url`. */
  constructor(listed: readonly string[] = []) {
    this.#listed = listed.map(splitPath);
  }

  /** True when the value at `segments` (or a tree holding it) is secret. */
  isSecret(segments: readonly PropertyKey[]): boolean {
    const names = segments.map(String);
    if (names.some((name) => secretKey.test(name))) return true;
    return this.#listed.some((listed) => listed.every((segment, i) => names[i] === segment));
  }

  /** `tree` with every secret value replaced by `[secret]` and passwords inside URLs hidden. */
  redact(tree: ConfigTree, prefix: readonly string[] = []): ConfigTree {
    const copy: Record<string, ConfigValue> = {};
    for (const [key, value] of Object.entries(tree)) copy[key] = this.redactValue(value, [...prefix, key]);
    return copy;
  }

  /** The value at `segments`, as it may be printed. */
  redactValue(value: ConfigValue, segments: readonly string[]): ConfigValue {
    if (value === null) return value;
    // A secret tree keeps its keys, so the printout still shows which settings are there.
    if (isConfigTree(value)) return this.redact(value, segments);
    if (this.isSecret(segments)) return secretMark;
    if (typeof value === "string") return hideUrlPasswords(value);
    if (Array.isArray(value))
      return value.map((item: ConfigValue, i) => this.redactValue(item, [...segments, String(i)]));
    return value;
  }

  /** `text` with the secret `value` (a string, or its JSON) replaced, for messages that may quote it. */
  hideIn(text: string, value: unknown): string {
    let hidden = hideUrlPasswords(text);
    for (const form of new Set([typeof value === "string" ? value : undefined, jsonOf(value)])) {
      if (form && form.length >= 3) hidden = hidden.split(form).join(secretMark);
    }
    return hidden;
  }
}

/** `postgres://app:s3cret@db/app` → `postgres://app:[secret]@db/app`. */
export function hideUrlPasswords(text: string): string {
  return text.replace(urlPassword, `$1${secretMark}@`);
}

function jsonOf(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
