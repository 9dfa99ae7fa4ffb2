import type { Registry } from "@bufbuild/protobuf";
import type { MethodOptions } from "@bufbuild/protobuf/wkt";
import { loadModule } from "../platform/lazy-module.js";

/** A `google.api.http` binding as the definition records it. */
export interface HttpBinding {
  readonly method: string;
  readonly path: string;
  readonly body: string | undefined;
  readonly responseBody: string | undefined;
}

/** The fields of `google.api.HttpRule` this reads, as protobuf-es decodes them. */
interface HttpRuleMessage {
  readonly pattern:
    | { case: undefined }
    | { case: "custom"; value: { kind: string; path: string } }
    | { case: string; value: string };
  readonly body: string;
  readonly responseBody: string;
  readonly additionalBindings: readonly HttpRuleMessage[];
}

/**
 * Reads a method's `google.api.http` option through the descriptors in the
 * request. Files that do not import `google/api/annotations.proto` have no
 * such extension, so their methods have no bindings.
 */
export function readHttpRules(registry: Registry, options: MethodOptions | undefined): HttpBinding[] {
  const extension = registry.getExtension("google.api.http");
  if (!extension || !options) return [];
  // Loaded here, not at import: a registry's holder has loaded protobuf-es already.
  const { getExtension, hasExtension } = loadModule<typeof import("@bufbuild/protobuf")>("@bufbuild/protobuf");
  if (!hasExtension(options, extension)) return [];
  const rule = getExtension(options, extension) as unknown as HttpRuleMessage;
  return [rule, ...rule.additionalBindings].flatMap(toBinding);
}

function toBinding(rule: HttpRuleMessage): HttpBinding[] {
  const { pattern } = rule;
  if (pattern.case === undefined) return [];
  const [method, path] =
    pattern.case === "custom"
      ? [(pattern.value as { kind: string }).kind, (pattern.value as { path: string }).path]
      : [pattern.case.toUpperCase(), pattern.value as string];
  return [{ method, path, body: rule.body || undefined, responseBody: rule.responseBody || undefined }];
}
