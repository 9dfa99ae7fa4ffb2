import type { DescFile, DescMessage, Registry } from "@bufbuild/protobuf";
import { closestName, SetupError } from "@tsmicro/runtime/errors";
import { parsePathTemplate, readHttpRules } from "@tsmicro/runtime/routing";
import { snakeCase } from "./entity-definition.js";
import { methodPlace, type ProtoPath } from "./source-place.js";

/**
 * Checks that every `google.api.http` binding of a file names fields its
 * messages have: each path variable (`{shelf}`, `{book.name}`) a field of the
 * request, `body` one of its fields (or `*`), `response_body` one of the
 * response's. A misspelt name would otherwise make every request fail at the
 * gateway, blaming the caller; protoc-gen-grpc-gateway refuses it too.
 * Throws TSM_ERR_HTTP_FIELD for the first binding that does not fit, naming where its option is
 * written (`path` names the file as the user reaches it).
 */
export function checkRouteFields(file: DescFile, registry: Registry, path?: ProtoPath): void {
  for (const service of file.services) {
    for (const method of service.methods) {
      for (const rule of readHttpRules(registry, method.proto.options)) {
        const where = `${methodPlace(file, method, path)}: rpc ${service.name}.${method.name} (${rule.method} ${rule.path})`;
        const template = parsePathTemplate(rule.path, where);
        for (const segment of template.segments) {
          if (segment.kind === "variable")
            checkFieldPath(
              where,
              `the path variable {${segment.fieldPath.join(".")}}`,
              method.input,
              segment.fieldPath,
            );
        }
        if (rule.body !== undefined && rule.body !== "*")
          checkFieldPath(where, `body "${rule.body}"`, method.input, [rule.body]);
        if (rule.responseBody !== undefined)
          checkFieldPath(where, `response_body "${rule.responseBody}"`, method.output, [rule.responseBody]);
      }
    }
  }
}

/** Follows `path` (proto field names) from `message`; every name but the last must be a message field. */
function checkFieldPath(where: string, what: string, message: DescMessage, path: readonly string[]): void {
  let current = message;
  for (const [i, name] of path.entries()) {
    const field = current.fields.find((f) => f.name === name);
    if (!field) {
      const known = current.fields.map((f) => f.name);
      // A JSON name (`userId`) where templates take the proto's (`user_id`), else a slip of the keys.
      const meant = known.includes(snakeCase(name)) ? snakeCase(name) : closestName(name, known);
      const hint =
        meant !== undefined
          ? `did you mean ${meant}?`
          : known.length > 0
            ? `use one of ${known.slice(0, 8).join(", ")}`
            : `${current.typeName} has no fields`;
      throw new SetupError("TSM_ERR_HTTP_FIELD", where, what, name, current.typeName, hint);
    }
    const next = path[i + 1];
    if (next === undefined) return;
    if (field.fieldKind !== "message") {
      const owner = `${current.typeName}.${name} (a ${field.fieldKind}, not a message)`;
      throw new SetupError("TSM_ERR_HTTP_FIELD", where, what, next, owner, `end the path at ${name}`);
    }
    current = field.message;
  }
}
