// Builds the browser SDK from src/ with esbuild (pinned in package-lock.json):
//   ../../functions/web/static/sdk/  what the API serves (committed: the web function ships it as is)
//   dist/                            the npm package's files (`npm pack` runs this first)
// `node build.mjs --check` builds in memory and exits 1 if the served files are stale.
import { build } from "esbuild";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const served = join(here, "../../functions/web/static/sdk");
const dist = join(here, "dist");
const { version } = JSON.parse(await readFile(join(here, "package.json"), "utf8"));
const banner = `/*! @countersign/browser ${version}: built from sdk/browser/src by esbuild; read the sources there. */`;

/** The files of one build, by name: {name: text}. */
export async function outputs() {
  const common = { bundle: true, minify: true, write: false, target: "es2022", banner: { js: banner }, legalComments: "none" };
  const esm = await build({ ...common, entryPoints: [join(here, "src/index.js")], format: "esm" });
  return {
    "countersign.js": esm.outputFiles[0].text,
    "countersign.d.ts": await readFile(join(here, "src/countersign.d.ts"), "utf8"),
  };
}

/** The names of the served files that differ from a build of the sources now. */
export async function staleFiles() {
  const stale = [];
  for (const [name, text] of Object.entries(await outputs())) {
    const current = await readFile(join(served, name), "utf8").catch(() => null);
    if (current !== text) stale.push(name);
  }
  return stale;
}

const main = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (main && process.argv.includes("--check")) {
  const stale = await staleFiles();
  if (stale.length) {
    console.error(`Stale against sdk/browser/src: ${stale.join(", ")}. Run: make sdk-build`);
    process.exit(1);
  }
} else if (main) {
  await mkdir(dist, { recursive: true });
  for (const [name, text] of Object.entries(await outputs())) {
    await writeFile(join(served, name), text);
    await writeFile(join(dist, name), text);
  }
}
