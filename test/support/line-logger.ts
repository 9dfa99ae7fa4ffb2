import type { Logger } from "../../runtime/src/logging/logger.js";

/** One logged line: its level, its fields and its message. */
export type LoggedLine = [level: string, fields: object, message: string | undefined];

/** A logger keeping each line's level, fields and message, for unit tests of what code logs. */
export function lineLogger(): { logger: Logger; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const at =
    (level: string) =>
    (fields: object | string, message?: string): void =>
      void lines.push(typeof fields === "string" ? [level, {}, fields] : [level, fields, message]);
  const logger: Logger = {
    trace: at("trace"),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: () => logger,
  };
  return { logger, lines };
}
