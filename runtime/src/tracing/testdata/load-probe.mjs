// Prints which @opentelemetry modules a process loads: after importing @tsmicro/runtime, then after
// starting a service with the environment this process was given. A resolve hook sees every import and require.
import { registerHooks } from "node:module";

const resolved = [];
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    resolved.push(result.url);
    return result;
  },
});

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
const otel = () => resolved.filter((url) => url.includes("/@opentelemetry/")).length;

const { createMemoryRegistry, createService, silentLogger } = await import("@tsmicro/runtime");
await settle();
const afterImport = otel();
// Metrics off: prom-client's default metrics load OTel's API themselves.
const service = createService({
  name: "probe",
  registry: createMemoryRegistry(),
  args: ["--metrics_address=off"],
  logger: silentLogger(),
});
await service.start();
await service.stop();
await settle();
console.log(JSON.stringify({ afterImport, afterStart: otel() }));
