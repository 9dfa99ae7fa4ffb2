/**
 * Builds the dashboard's page (web/) into dist/web: the Preact app bundled and minified by
 * esbuild into app.js, its stylesheet as app.css, and index.html. Nothing is fetched at run
 * time; the gateway package serves these three files. Run by `npm run build`.
 */
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = dirname(fileURLToPath(import.meta.url));
const out = join(root, "dist/web");
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(root, "web/main.tsx")],
  outfile: join(out, "app.js"),
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  logLevel: "warning",
});
await build({
  entryPoints: [join(root, "web/style.css")],
  outfile: join(out, "app.css"),
  bundle: true,
  minify: true,
  logLevel: "warning",
});
await copyFile(join(root, "web/index.html"), join(out, "index.html"));
