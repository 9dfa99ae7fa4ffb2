import type { BreakerOptions } from "@tsmicro/runtime";
import type { AccessToken } from "./gen/auth/v1/auth.js";

/**
 * What the fallback answers for MakeAccessToken while auth cannot: a token
 * of nothing, which /user/login turns into a 503 that says so, rather than
 * each login waiting for a service that is down.
 */
export const noToken: AccessToken = Object.freeze({ token: "", expiresAt: undefined });

/**
 * auth's MakeAccessToken behind the breaker the original system gave it
 * (hystrix: timeout 1000 ms, at most 100 concurrent requests, open at 50 %
 * errors), with a fallback. Its other settings are the defaults: open only
 * after 20 calls in 10 s, one probe after 5 s.
 */
export const loginBreaker: BreakerOptions = {
  perMethod: {
    "auth/MakeAccessToken": {
      timeoutMs: 1_000,
      maxConcurrent: 100,
      errorThresholdPercentage: 50,
      fallback: () => noToken,
    },
  },
};
