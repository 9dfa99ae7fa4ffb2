import { getExtension, hasExtension, type DescField, type Registry } from "@bufbuild/protobuf";

/** What a field's `google.api.field_behavior` says, as far as OpenAPI can carry it. */
export interface FieldBehavior {
  /** REQUIRED: a request must set it (JSON Schema `required`, a required query parameter). */
  readonly required: boolean;
  /** OUTPUT_ONLY: the service sets it and ignores what a request sends (`readOnly`). */
  readonly outputOnly: boolean;
}

/** The behaviour of a field; a field without the option has none. */
export type FieldBehaviorLookup = (field: DescField) => FieldBehavior;

// google.api.FieldBehavior values (google/api/field_behavior.proto).
const REQUIRED = 2;
const OUTPUT_ONLY = 3;

const none: FieldBehavior = { required: false, outputOnly: false };

/**
 * Reads `google.api.field_behavior` through the descriptors in the request. Files that do not
 * import `google/api/field_behavior.proto` have no such extension, so their fields have none.
 */
export function fieldBehaviors(registry: Registry): FieldBehaviorLookup {
  const extension = registry.getExtension("google.api.field_behavior");
  if (!extension) return () => none;
  return (field) => {
    const options = field.proto.options;
    if (!options || !hasExtension(options, extension)) return none;
    const values = getExtension(options, extension) as unknown as readonly number[];
    return { required: values.includes(REQUIRED), outputOnly: values.includes(OUTPUT_ONLY) };
  };
}
