import { expect } from "vitest";

/** What a scaffolded compose file's gateway service says of itself, as parsed. */
export interface ComposeGateway {
  readonly command?: readonly string[];
  readonly healthcheck?: { readonly test?: readonly string[] };
}

/**
 * The healthcheck of a compose service that runs `tsmicro api`, checked to be `node -e SCRIPT`
 * asking `/healthz` on the port its `--address` listens on: the script, and a way to run it
 * against a gateway on another port (the compose port is a fixed one, which a test cannot take).
 */
export function gatewayHealthcheck(name: string, service: ComposeGateway): { probe: (port: number) => string[] } {
  const address = service.command?.find((arg) => arg.startsWith("--address="));
  const port = address?.slice(address.lastIndexOf(":") + 1);
  expect(port, `${name}: the gateway's --address`).toMatch(/^\d+$/);
  const test = service.healthcheck?.test ?? [];
  expect(test.slice(0, 3), `${name}: its healthcheck`).toEqual(["CMD", "node", "-e"]);
  const script = test[3]!;
  const url = `http://127.0.0.1:${port}/healthz`;
  expect(script, `${name}: its healthcheck asks /healthz on its own port`).toContain(`'${url}'`);
  return { probe: (at) => ["-e", script.replace(url, `http://127.0.0.1:${at}/healthz`)] };
}
