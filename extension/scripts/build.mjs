// npm run build -> dist/: the extension as Chrome loads it. Every script is bundled from src/
// with esbuild (no remote code, no eval); pages, styles, the manifest and icons are copied.
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = `${root}dist`;

export async function buildExtension({ outdir = dist, minify = true } = {}) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const common = { bundle: true, minify, target: "chrome116", legalComments: "none", logLevel: "warning" };
  // Pages and the service worker are ES modules; the scripts injected into pages are not.
  await build({
    ...common,
    entryPoints: ["background", "popup", "editor", "options", "offscreen"].map((name) => `${root}src/${name}.js`),
    outdir,
    format: "esm",
  });
  await build({ ...common, entryPoints: [`${root}src/content.js`, `${root}src/page-hook.js`], outdir, format: "iife" });
  cpSync(`${root}static`, outdir, { recursive: true });
  cpSync(`${root}icons`, `${outdir}/icons`, { recursive: true });
  return outdir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await buildExtension());
}
