import { pino } from "pino";

/** Structured logging, as pino's interface: an object of fields, then a message. */
export interface Logger {
  trace(fields: object, message?: string): void;
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
  child(fields: object): Logger;
}

/** Options of the default logger. */
export interface LoggerOptions {
  /** Printed in every line as `service`. */
  readonly service?: string;
  readonly level?: string;
}

/** The default logger: pino, JSON lines on stdout, for any collector to ship. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({ level: options.level ?? "info", base: options.service ? { service: options.service } : {} });
}

/** A logger that drops everything, for tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
