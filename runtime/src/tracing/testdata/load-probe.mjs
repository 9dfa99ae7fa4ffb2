// Prints which @opentelemetry modules a process loads: after importing @tsmicro/runtime, then after
// starting a service with the environment this process was given. A resolve hook sees every import.
import { register } from "node:module";

const { port1, port2 } = new MessageChannel();
const resolved = [];
port1.on("message", (url) => resolved.push(url));
port1.unref();
const hook = `
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  port.postMessage(result.url);
  return result;
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`, { data: { port: port2 }, transferList: [port2] });

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
const otel = () => resolved.filter((url) => url.includes("/@opentelemetry/")).length;

const { createMemoryRegistry, createService, silentLogger } = await import("@tsmicro/runtime");
await settle();
const afterImport = otel();
const service = createService({ name: "probe", registry: createMemoryRegistry(), args: [], logger: silentLogger() });
await service.start();
await service.stop();
await settle();
console.log(JSON.stringify({ afterImport, afterStart: otel() }));
