// The install card: the script-tag snippet of docs/sdk-web.md, filled with this application's id and
// this API's URL. The template is the one the SDK's build writes (console/snippet.txt); the SDK file's
// pinned name comes from its Link header and its integrity hash is computed here from its bytes, so
// the card always matches the file the API serves now.

import { $, status } from "./dom.js";

const API_BASE = new URL("./", document.baseURI);
const API_URL = API_BASE.href.replace(/\/$/, "");

async function fetched(path) {
  const answer = await fetch(new URL(path, API_BASE), { cache: "no-cache" });
  if (!answer.ok) throw new Error(`${path}: HTTP ${answer.status}`);
  return answer;
}

/** "sha384-<base64>" of `bytes` (Subresource Integrity). */
async function integrity(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-384", bytes));
  return "sha384-" + btoa(String.fromCharCode(...digest));
}

export async function loadInstall(ctx) {
  const line = $("install-status");
  $("install-api-url").textContent = API_URL;
  $("install-app-id").textContent = ctx.session.appId;
  status(line, "loading", "Preparing the snippet…");
  try {
    const [template, iife] = await Promise.all([fetched("console/snippet.txt"), fetched("sdk/countersign.iife.js")]);
    const pinned = /<([^>]+)>/.exec(iife.headers.get("Link") || "")?.[1] || "countersign.iife.js";
    const values = { API_URL, APP_ID: ctx.session.appId, FILE: pinned, SRI: await integrity(await iife.arrayBuffer()) };
    $("install-snippet").value = (await template.text()).replace(/\{\{(\w+)\}\}/g, (_, key) => values[key] ?? "");
    status(line, "", "");
  } catch {
    status(line, "error", "The snippet could not be prepared (the SDK files did not load). Reload to try again.");
  }
}

export function setUpInstall() {
  $("install-copy").addEventListener("click", async () => {
    const snippet = $("install-snippet");
    try {
      await navigator.clipboard.writeText(snippet.value);
      status($("install-status"), "ok", "Snippet copied.");
    } catch {
      snippet.focus();
      snippet.select(); // no clipboard access here: selected, for the keyboard's copy
      status($("install-status"), "", "The snippet is selected: press Ctrl+C (⌘C on a Mac) to copy it.");
    }
  });
}
