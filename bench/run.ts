/** Runs the benchmarks named on the command line (default: all) and prints their ratios. */
import { benchBroker } from "./broker.js";
import { benchCodegen } from "./codegen.js";
import { benchGateway } from "./gateway.js";
import { benchObservability } from "./observability.js";
import { benchRpc } from "./rpc.js";
import { benchScaffold } from "./scaffold.js";
import { benchStartup } from "./startup.js";

const benches: Record<string, () => Promise<void>> = {
  codegen: benchCodegen,
  rpc: benchRpc,
  gateway: benchGateway,
  broker: benchBroker,
  observability: benchObservability,
  scaffold: benchScaffold,
  startup: benchStartup,
};
const wanted = process.argv.slice(2);
for (const name of wanted.length > 0 ? wanted : Object.keys(benches)) {
  const bench = benches[name];
  if (!bench) throw new Error(`unknown benchmark ${name}; known: ${Object.keys(benches).join(", ")}`);
  await bench();
}
