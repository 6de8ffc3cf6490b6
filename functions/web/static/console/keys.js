// Active Keys (Generate Key, Show/Hide, Revoke with a confirmation showing the last use) and the
// log of Revoked Keys. A secret is in the page only between Show and Hide (or leaving the page).

import { confirmChange } from "./confirm.js";
import { $, describe, fillTable, h, plural, stamp, status, when } from "./dom.js";

// The limit comes from the API (GET /keys answers activeKeyLimit); words read better in a sentence.
const NUMBER_WORDS = ["No", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten"];

function fullSentence(limit) {
  return `${NUMBER_WORDS[limit] || limit} keys are active: revoke one to generate another.`;
}

let ctx;
const revealed = new Map(); // keyName -> {cell, button} of a shown secret

export function setUpKeys(context) {
  ctx = context;
  $("generate-key").addEventListener("click", () => {
    $("generate-form").hidden = false;
    $("key-description").focus();
  });
  $("generate-cancel").addEventListener("click", closeGenerate);
  $("generate-form").addEventListener("submit", createKey);
}

/** Take every shown secret out of the page. */
export function hideSecrets() {
  for (const [keyName, shown] of revealed) conceal(keyName, shown);
}

/**
 * A Copy button for `text` (named "Copy <what>" for screen readers). Uses the clipboard; where the
 * browser refuses, selects the text so Ctrl+C (⌘C) copies it, and says so.
 */
function copyButton(text, what, target) {
  const button = h("button", { type: "button", className: "copy", "aria-label": `Copy ${what}` }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      status($("keys-status"), "ok", `Copied the ${what}.`);
      button.textContent = "Copied";
      setTimeout(() => {
        button.textContent = "Copy";
      }, 2000);
    } catch {
      getSelection().selectAllChildren(target);
      status($("keys-status"), "ok", `The ${what} is selected: press Ctrl+C (⌘C on a Mac) to copy it.`);
    }
  });
  return button;
}

function conceal(keyName, { cell, button }) {
  cell.replaceChildren(h("span", { className: "muted" }, "Hidden"));
  button.textContent = "Show";
  revealed.delete(keyName);
}

function closeGenerate() {
  $("generate-form").hidden = true;
  $("key-description").value = "";
  $("generate-key").focus();
}

function lastUse(key, format = when) {
  return format(key.lastUsedAt, "Never");
}

export async function loadKeys(context) {
  ctx = context;
  const line = $("keys-status");
  if (!$("active-keys").tBodies[0].rows.length) status(line, "loading", "Loading keys…");
  try {
    render(await ctx.call("GET", "/keys"));
  } catch (error) {
    status(line, "error", `The keys could not be loaded. ${describe(error)}`);
    throw error;
  }
}

function render(listing) {
  hideSecrets();
  const active = listing.activeKeys || [];
  const rows = active.map((key) => activeRow(key));
  fillTable(
    $("active-keys"),
    rows,
    $("keys-status"),
    "No active keys yet. Generate Key creates one; then sign your visitors' metadata with its secret on your server.",
  );
  const limit = Number(listing.activeKeyLimit);
  const full = active.length >= limit;
  $("generate-key").disabled = full;
  $("generate-key").title = full ? fullSentence(limit) : "";
  if (full) status($("keys-status"), "", fullSentence(limit));

  const revoked = (listing.revokedKeys || []).map((key) => [
    h("code", {}, key.keyName),
    key.description,
    stamp(key.createdAt),
    stamp(key.revokedAt),
    lastUse(key, stamp),
  ]);
  fillTable($("revoked-keys"), revoked, $("revoked-status"), "No key has been revoked.");
}

function activeRow(key) {
  const nameId = `key-name-${key.keyName}`;
  const secretCell = h("td", { className: "secret-cell" }, h("span", { className: "muted" }, "Hidden"));
  const show = h("button", { type: "button", "aria-describedby": nameId }, "Show");
  const revoke = h("button", { type: "button", className: "danger-quiet", "aria-describedby": nameId }, "Revoke");
  show.addEventListener("click", () => toggleSecret(key, secretCell, show));
  revoke.addEventListener("click", () => revokeKey(key, revoke));
  const name = h("code", { id: nameId }, key.keyName);
  return h(
    "tr",
    {},
    h("td", {}, h("span", { className: "copyable" }, name, copyButton(key.keyName, `key name ${key.keyName}`, name))),
    h("td", { className: "description" }, key.description),
    h("td", {}, stamp(key.createdAt)),
    h("td", {}, lastUse(key, stamp)),
    secretCell,
    h("td", { className: "row-actions" }, show, revoke),
  );
}

async function toggleSecret(key, cell, button) {
  const shown = revealed.get(key.keyName);
  if (shown) {
    conceal(key.keyName, shown);
    return;
  }
  status($("keys-error"), "", "");
  button.disabled = true;
  try {
    const answer = await ctx.call("POST", `/keys/${encodeURIComponent(key.keyName)}/reveal`);
    // One line that scrolls sideways, whatever the width, with its own Copy button.
    const secret = h("code", { className: "secret", tabindex: "0", "aria-label": `Secret of ${key.keyName}` }, answer.secret);
    cell.replaceChildren(h("span", { className: "copyable" }, secret, copyButton(answer.secret, `secret of ${key.keyName}`, secret)));
    button.textContent = "Hide";
    revealed.set(key.keyName, { cell, button });
  } catch (error) {
    status($("keys-error"), "error", describe(error));
  } finally {
    button.disabled = false;
  }
}

async function createKey(event) {
  event.preventDefault();
  const description = $("key-description").value.trim();
  if (!description) {
    status($("keys-error"), "error", "Enter a description to help you identify the key later.");
    $("key-description").focus();
    return;
  }
  status($("keys-error"), "", "");
  status($("keys-status"), "", ""); // an earlier key's "created" must not stand beside this one's outcome
  const submit = $("generate-form").querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    const key = await ctx.call("POST", "/keys", { description });
    closeGenerate();
    await loadKeys(ctx);
    status($("keys-status"), "ok", `Key ${key.keyName} created. Select Show to see its secret.`);
  } catch (error) {
    status($("keys-error"), "error", describe(error));
  } finally {
    submit.disabled = false;
  }
}

/** The key's last use, and what revoking it would drop: the API's dry-run of the revocation. */
async function recentUse(key) {
  const last = `Last used: ${lastUse(key)}.`;
  try {
    const preview = await ctx.call("POST", `/keys/${encodeURIComponent(key.keyName)}/revoke`, { dryRun: true });
    const { hours, wouldDrop } = preview.impact;
    return `${last} In the last ${hours} hours it signed ${plural(Number(wouldDrop.sessions), "session")} and ${plural(Number(wouldDrop.events), "event")}.`;
  } catch {
    return last;
  }
}

async function revokeKey(key, button) {
  status($("keys-error"), "", "");
  const ok = await confirmChange({
    title: `Revoke ${key.keyName}?`,
    lead: `“${key.description}”, created ${when(key.createdAt)}.`,
    checklist: [
      "Your servers already sign with another key: generate one and switch to it first.",
      "Sessions and events signed with this key are dropped within seconds.",
      "Revoking is permanent: this cannot be undone.",
    ],
    impact: recentUse(key),
    checking: "Checking the key's recent use…",
    typed: false,
    okLabel: "Revoke",
  });
  if (!ok) {
    button.focus();
    return;
  }
  try {
    await ctx.call("POST", `/keys/${encodeURIComponent(key.keyName)}/revoke`);
    await loadKeys(ctx);
    status($("keys-status"), "ok", `Key ${key.keyName} revoked.`);
    $("generate-key").focus();
  } catch (error) {
    status($("keys-error"), "error", describe(error));
  }
}
