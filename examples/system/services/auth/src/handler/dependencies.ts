import type { AccessTokens } from "../domain/service/access-tokens.js";
import type { RevokedTokenDataService } from "../domain/service/revoked-token-data-service.js";

/** What the handlers use; src/main.ts builds it. Add what new handlers need here. */
export interface Dependencies {
  readonly revokedTokens: RevokedTokenDataService;
  readonly tokens: AccessTokens;
}
