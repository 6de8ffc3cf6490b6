// The console's entry point: sign-in and sign-out, and the five views (one visible at a time).

import { call, currentSession, forget, remember } from "./api.js";
import { $, describe, status } from "./dom.js";
import { loadInstall, setUpInstall } from "./install.js";
import { hideSecrets, loadKeys, setUpKeys } from "./keys.js";
import { loadCoverage, loadDiagnostics, loadRawEvents, setUpReports } from "./reports.js";
import { loadSettings, setUpSettings } from "./settings.js";

const VIEWS = {
  "install-settings": (ctx) => Promise.all([loadSettings(ctx), loadKeys(ctx), loadInstall(ctx)]),
  "raw-events": loadRawEvents,
  diagnostics: loadDiagnostics,
  coverage: loadCoverage,
  // Loaded when first shown: a tab used rarely costs the other views nothing. A module that fails
  // to load cannot show its own error (and the browser keeps the failure until a reload).
  privacy: (context) =>
    import("./privacy.js").then(
      (privacy) => privacy.loadPrivacy(context),
      (failure) => {
        status($("erase-error"), "error", "The Privacy tab did not load. Reload the page to try again.");
        throw failure;
      },
    ),
};

/** What the views share: the signed-in application and a call that signs out on a refused token. */
const ctx = {
  session: null,
  async call(method, path, body, params) {
    try {
      return await call(ctx.session, method, path, body, params);
    } catch (error) {
      if (error.status === 401 || error.status === 403) signOut("Your admin token is no longer accepted: sign in again.");
      throw error;
    }
  },
};

function signOut(message) {
  hideSecrets();
  forget();
  ctx.session = null;
  $("console").hidden = true;
  $("who").hidden = true;
  $("who-app").textContent = "";
  $("sign-in").hidden = false;
  $("sign-in-token").value = "";
  status($("sign-in-status"), message ? "error" : "", message || "");
  $("sign-in-app").focus();
}

function showConsole() {
  $("sign-in").hidden = true;
  $("console").hidden = false;
  $("who").hidden = false;
  $("who-app").textContent = ctx.session.appId;
  route();
}

/** Show the view named by the URL's fragment (Install Settings by default) and load it. */
function route() {
  if (!ctx.session) return;
  // Own keys only: `"constructor" in VIEWS` is true (every object inherits it).
  const name = Object.hasOwn(VIEWS, location.hash.slice(1)) ? location.hash.slice(1) : "install-settings";
  for (const view of Object.keys(VIEWS)) $(`view-${view}`).hidden = view !== name;
  for (const link of document.querySelectorAll(".tabs a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (name !== "install-settings") hideSecrets();
  VIEWS[name](ctx).catch(() => {}); // each view shows its own error state
}

async function signIn(event) {
  event.preventDefault();
  const appId = $("sign-in-app").value.trim();
  const token = $("sign-in-token").value.trim();
  const line = $("sign-in-status");
  if (!appId || !token) {
    status(line, "error", "Enter the application id and its admin token.");
    return;
  }
  status(line, "loading", "Signing in…");
  try {
    await call({ appId, token }, "GET", "/settings");
  } catch (error) {
    const refused = error.status === 401 || error.status === 403;
    status(line, "error", refused ? "This application id and admin token do not match. Check both and try again." : describe(error));
    return;
  }
  status(line, "", "");
  $("sign-in-token").value = "";
  remember(appId, token);
  ctx.session = { appId, token };
  showConsole();
}

function start() {
  setUpSettings(ctx);
  setUpKeys(ctx);
  setUpInstall();
  setUpReports(ctx);
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut(""));
  window.addEventListener("hashchange", route);
  // A revealed secret never outlives the page being visible.
  window.addEventListener("pagehide", hideSecrets);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") hideSecrets();
  });
  ctx.session = currentSession();
  if (ctx.session) showConsole();
  else signOut("");
}

start();
