/**
 * A program whose only work is calls over the h2 client transport to the
 * address it is given: five times, a transport makes one call, prints the
 * answer and is closed. It must neither exit with a call or a close still
 * pending nor stay alive after (an idle session holds no process).
 */
import { AlphaDefinition } from "../../../../test/golden/10-services/services.micro.js";
import { createH2ClientTransport } from "../h2-client.js";

for (let i = 0; i < 5; i++) {
  const client = createH2ClientTransport();
  const response = await client.call(process.argv[2]!, {
    service: "alpha",
    method: AlphaDefinition.methods.unary,
    request: { id: "slow", payload: new Uint8Array() },
    metadata: {},
    deadline: undefined,
    signal: undefined,
  });
  console.log(JSON.stringify(response));
  await client.close();
}
console.log("closed");
