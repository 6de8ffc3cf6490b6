// Builds the browser SDK from src/ with esbuild (pinned in package-lock.json):
//   ../../functions/web/static/sdk/  what the API serves (committed: the web function ships it as is)
//   dist/                            the npm package's files (`npm pack` runs this first)
//   ../../functions/web/static/console/snippet.txt and docs/sdk-web.md  the script-tag snippet
// `node build.mjs --check` builds in memory and exits 1 if any of them is stale.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const served = join(here, "../../functions/web/static/sdk");
const dist = join(here, "dist");
const { version } = JSON.parse(await readFile(join(here, "package.json"), "utf8"));
const banner = `/*! @countersign/browser ${version}: built from sdk/browser/src by esbuild; read the sources there. */`;

const docs = join(here, "../../docs/sdk-web.md");
const SNIPPET = /(<!-- snippet: iife -->\n```html\n)[\s\S]*?(```)/;
/** How docs/sdk-web.md shows the snippet until you fill in your API URL and application id. */
export const PLACEHOLDERS = { API_URL: "https://API_ID.execute-api.REGION.amazonaws.com/api", APP_ID: "app_0123456789abcdef" };

/** The name the API also serves a file under, pinned by its content (static_files.hashed_name). */
export function pinnedName(name, text) {
  const [stem, ...rest] = name.split(".");
  return [stem, createHash("sha256").update(text).digest("hex").slice(0, 12), ...rest].join(".");
}

/** The Subresource Integrity value of a file. */
export const integrity = (text) => "sha384-" + createHash("sha384").update(text).digest("base64");

/** The snippet with its placeholders filled (the console fills API_URL and APP_ID the same way). */
export const fillSnippet = (template, values) => template.replace(/\{\{(\w+)\}\}/g, (_, key) => values[key]);

/** docs/sdk-web.md with its snippet made from snippet.html and the built IIFE. */
async function documented(files) {
  const iife = files["countersign.iife.js"];
  const filled = fillSnippet(files["snippet.html"], { ...PLACEHOLDERS, FILE: pinnedName("countersign.iife.js", iife), SRI: integrity(iife) });
  const text = await readFile(docs, "utf8");
  if (!SNIPPET.test(text)) throw new Error("docs/sdk-web.md has no <!-- snippet: iife --> block");
  return text.replace(SNIPPET, (_, open, close) => open + filled + close);
}

/** The files of one build, by name: {name: text}. */
export async function outputs() {
  const common = { bundle: true, minify: true, write: false, target: "es2022", banner: { js: banner }, legalComments: "none" };
  const esm = await build({ ...common, entryPoints: [join(here, "src/index.js")], format: "esm" });
  const iife = await build({ ...common, entryPoints: [join(here, "src/iife.js")], format: "iife" });
  return {
    "countersign.js": esm.outputFiles[0].text,
    "countersign.iife.js": iife.outputFiles[0].text,
    "countersign.d.ts": await readFile(join(here, "src/countersign.d.ts"), "utf8"),
    "snippet.html": await readFile(join(here, "snippet.html"), "utf8"),
  };
}

/** Where each built file goes: the API's static files (the snippet next to the console that fills it). */
const servedPath = (name) => (name === "snippet.html" ? join(served, "../console/snippet.txt") : join(served, name));

/** The names of the served files that differ from a build of the sources now. */
export async function staleFiles() {
  const stale = [];
  const files = await outputs();
  for (const [name, text] of Object.entries(files)) {
    const current = await readFile(servedPath(name), "utf8").catch(() => null);
    if (current !== text) stale.push(name);
  }
  if ((await readFile(docs, "utf8")) !== (await documented(files))) stale.push("docs/sdk-web.md");
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
  // --dist-only (npm pack's prepack): the package's files, nothing committed is touched.
  const everywhere = !process.argv.includes("--dist-only");
  await mkdir(dist, { recursive: true });
  const files = await outputs();
  for (const [name, text] of Object.entries(files)) {
    if (everywhere) await writeFile(servedPath(name), text);
    await writeFile(join(dist, name), text);
  }
  if (everywhere) await writeFile(docs, await documented(files));
}
