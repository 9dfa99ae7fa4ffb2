import type { Config } from "@tsmicro/runtime";
import type { SystemSettings } from "../settings.js";

/** What the handlers use; src/main.ts builds it. Add what new handlers need here. */
export interface Dependencies {
  /** The system's settings, kept current from their sources. */
  readonly settings: Config<SystemSettings>;
}
