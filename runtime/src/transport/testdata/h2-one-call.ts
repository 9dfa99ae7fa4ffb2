/**
 * A program that makes one call over the h2 client transport to the address
 * it is given and does nothing else: it prints the answer, then exits on its
 * own (an idle session holds no process alive).
 */
import { AlphaDefinition } from "../../../../test/golden/10-services/services.micro.js";
import { createH2ClientTransport } from "../h2-client.js";

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
