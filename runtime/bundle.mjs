/**
 * Bundles the runtime tsc compiled into dist/: one file per entry of
 * package.json's `exports` and for the span export worker, and chunks for
 * what they share or load on demand (etcd, tracing's exporter, …). Unbundled,
 * importing the runtime has node resolve, read and link some 120 small
 * modules, about half of the import's time. Packages stay external (each
 * still loads when first used), tsc's .d.ts files stay as they are, and
 * tsc's .js files are replaced by the bundle's.
 *
 * Run by `npm run build` after tsc: `node bundle.mjs [dist directory]`.
 */
import { readdir, readFile, rm, mkdir, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = dirname(fileURLToPath(import.meta.url));
const dist = resolve(process.argv[2] ?? join(root, "dist"));

/** The package's entry modules, by their path under dist without `.js`. */
async function entryPoints() {
  const { exports } = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
  const entries = {};
  for (const target of Object.values(exports)) {
    const file = typeof target === "string" ? target : target.default;
    if (!file.endsWith(".js")) continue;
    const path = relative("dist", file.replace(/^\.\//, "")).replace(/\.js$/, "");
    entries[path] = join(dist, `${path}.js`);
  }
  // worker-exporter.ts starts the worker from `./export-worker.js` beside itself, and it is
  // loaded on demand, so it lives in a chunk: the worker goes beside the chunks.
  entries["chunks/export-worker"] = join(dist, "tracing/export-worker.js");
  // pino loads the pretty log transport by its path in a worker: it keeps its own file.
  entries["logging/pretty-transport"] = join(dist, "logging/pretty-transport.js");
  return entries;
}

const result = await build({
  entryPoints: await entryPoints(),
  absWorkingDir: dist,
  outdir: dist,
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  packages: "external",
  write: false,
  metafile: true,
  logLevel: "warning",
});

// The chunk with the exporter must sit beside the worker it starts.
const exporterChunk = Object.entries(result.metafile.outputs).find(([, output]) =>
  Object.keys(output.inputs).some((input) => input.endsWith("tracing/worker-exporter.js")),
)?.[0];
if (!exporterChunk || dirname(exporterChunk) !== "chunks")
  throw new Error(`bundle.mjs: tracing/worker-exporter.js went to ${exporterChunk}, not beside chunks/export-worker.js`);

for (const file of await readdir(dist, { recursive: true }))
  if (file.endsWith(".js")) await rm(join(dist, file));
for (const output of result.outputFiles) {
  await mkdir(dirname(output.path), { recursive: true });
  await writeFile(output.path, output.contents);
}
