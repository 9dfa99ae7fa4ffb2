/**
 * The environment of a service a test creates in its own process: nothing
 * from outside, so a developer's variables cannot change a test, except the
 * wire the suite runs on. CI runs the suite once on the default transport and
 * once more with TSMICRO_TRANSPORT set to the other; a service given
 * `env: suiteEnv()` follows it, as child processes do through their
 * inherited environment.
 */
const suiteVariables = ["TSMICRO_TRANSPORT", "TSMICRO_CLIENT_TRANSPORT", "TSMICRO_SERVER_TRANSPORT"] as const;

/** The suite's transport variables that are set, with `env` over them. */
export function suiteEnv(env: Record<string, string> = {}): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const name of suiteVariables) {
    const value = process.env[name];
    if (value !== undefined) inherited[name] = value;
  }
  return { ...inherited, ...env };
}
