import type { ServiceDefinition } from "../definition/definition.js";
import {
  binaryCheck,
  hasRequiredFields,
  missingInRequest,
  requiredFieldRegistry,
} from "../definition/required-fields.js";
import type { TsmicroError } from "../errors/tsmicro-error.js";

/** Checks one request's bytes: the error to answer with, or undefined when every required field is there. */
export type RequiredFieldCheck = (bytes: Uint8Array) => TsmicroError | undefined;

/**
 * The proto2 required-field checks of a service's methods, by gRPC path, for requests that can
 * carry required fields (each message of a request stream is checked as it arrives): ts-proto's
 * decoder reads a missing field as its zero value, so without a check the handler could not
 * tell. Descriptors are read only when a file of the service other than descriptor.proto is
 * proto2 or editions, so proto3 services pay a scan of the file headers and nothing per call.
 */
export function requiredFieldChecks(service: ServiceDefinition): ReadonlyMap<string, RequiredFieldCheck> {
  const checks = new Map<string, RequiredFieldCheck>();
  const registry = requiredFieldRegistry(service);
  if (!registry) return checks;
  for (const method of Object.values(service.methods)) {
    const desc = registry.getMessage(method.inputType);
    if (desc && hasRequiredFields(desc))
      checks.set(
        method.path,
        binaryCheck(desc, (missing) => missingInRequest(missing)),
      );
  }
  return checks;
}
