import { isSetupError, type SetupError } from "../errors/setup-error.js";
import { createLogger, type Logger, type LoggerOptions } from "../logging/logger.js";
import { loggerSettings, type ServiceSettings } from "./settings.js";

/** Who writes the lines: printed in every one as `service`, `version` and `node`. */
export interface LoggerIdentity {
  readonly service: string;
  readonly version?: string | undefined;
  readonly node?: string | undefined;
}

/**
 * The logger of a service, gateway or web service: the `--log_*` settings,
 * identity fields and trace ids. A setting it cannot honour (pretty output
 * without pino-pretty) is returned as an error for start() to report, with a
 * plain JSON logger meanwhile, so creating the service never throws.
 */
export function serviceLogger(
  identity: LoggerIdentity,
  settings: ServiceSettings,
  extra: Pick<LoggerOptions, "mixin"> = {},
): { logger: Logger; error: SetupError | undefined } {
  const base: LoggerOptions = {
    service: identity.service,
    ...(identity.version ? { version: identity.version } : {}),
    ...(identity.node ? { node: identity.node } : {}),
    ...extra,
  };
  try {
    return { logger: createLogger({ ...base, ...loggerSettings(settings) }), error: undefined };
  } catch (error) {
    if (!isSetupError(error)) throw error;
    return { logger: createLogger({ ...base, level: settings.logLevel }), error };
  }
}
