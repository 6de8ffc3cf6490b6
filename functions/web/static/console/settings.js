// Install Settings: the three toggles (with the typed confirmation and the dry-run impact) and the
// JWKS URI field (Test URI, then Save URI for exactly the text that passed).

import { CONFIRMATION_PHRASE, confirmChange } from "./confirm.js";
import { $, dataTable, describe, h, plural, status, when } from "./dom.js";

const TOGGLES = ["useSignedMetadata", "useRs256SignedMetadata", "onlyAllowSignedMetadata"];

/**
 * The API's refusals of a settings change, in the console's words (its messages name JSON fields,
 * for API callers). The API decides which change is refused; this only words the answer.
 */
const REFUSAL_WORDS = {
  only_signed_metadata_enabled: "Locked while Only allow signed metadata is on: turn that off first to change this.",
  no_signing_mode: "Turn on Use signed metadata, or Use RS256-signed metadata with a saved JWKS URI, before only allowing signed metadata.",
};

/** What each change that needs the typed confirmation does, in the dialog's words. */
const CONSEQUENCES = {
  "onlyAllowSignedMetadata:true": {
    title: "Only allow signed metadata?",
    lead: "From now on, only sessions and events with verified signed metadata are accepted.",
    checklist: [
      "Every client sends signed metadata: your web install script, and every mobile app version still in use.",
      "Sessions, metadata updates and events without signed metadata are dropped.",
      "Dropped data cannot be recovered.",
    ],
  },
  "useSignedMetadata:false": {
    title: "Turn off HS256-signed metadata?",
    lead: "Metadata signed with your HS256 signing keys will no longer be accepted.",
    checklist: [
      "Sessions that send HS256-signed metadata stop sending data.",
      "Your keys stay as they are: turning it back on accepts them again.",
      "Dropped data cannot be recovered.",
    ],
  },
  "useRs256SignedMetadata:false": {
    title: "Turn off RS256-signed metadata?",
    lead: "Metadata signed with your RSA keys will no longer be accepted.",
    checklist: [
      "The saved JWKS URI is removed: to turn RS256 back on, you test and save it again.",
      "Sessions that send RS256-signed metadata stop sending data.",
      "Dropped data cannot be recovered.",
    ],
  },
};
const GENERIC = {
  title: "Confirm this change?",
  lead: "This change drops data.",
  checklist: ["Dropped data cannot be recovered."],
};

let ctx;
let current = null; // the settings as last answered by the API
let testedUri = null; // the exact text of the latest successful test
let locks = {}; // field -> why the API refuses to flip it now (console words), from dry runs
let probing = 0; // a newer probe supersedes an older one's answers

export function setUpSettings(context) {
  ctx = context;
  for (const field of TOGGLES) $(field).addEventListener("change", () => changeToggle(field));
  $("jwks-form").addEventListener("submit", testUri);
  $("jwks-save").addEventListener("click", saveUri);
  $("jwks-uri").addEventListener("input", () => {
    // An edit needs a new test: Save is only for the exact text that passed.
    if ($("jwks-uri").value !== testedUri) {
      testedUri = null;
      $("jwks-save").disabled = true;
      $("jwks-result").replaceChildren();
    }
  });
}

export async function loadSettings(context) {
  ctx = context;
  const line = $("settings-status");
  status(line, "loading", "Loading settings…");
  $("toggles-card").setAttribute("aria-busy", "true");
  try {
    render(await ctx.call("GET", "/settings"));
    status(line, "", "");
    await probeLocks(); // still busy: the switches a rule locks are disabled once the API says which
  } catch (error) {
    status(line, "error", `The settings could not be loaded. ${describe(error)}`);
    throw error;
  } finally {
    $("toggles-card").removeAttribute("aria-busy");
  }
}

function render(settings) {
  current = settings;
  for (const field of TOGGLES) {
    $(field).checked = Boolean(settings[field]);
    const reason = locks[field];
    $(field).disabled = Boolean(reason);
    status($(`${field}-lock`), reason ? "locked" : "", reason || "");
  }
  const rs256 = Boolean(settings.useRs256SignedMetadata);
  const locked = Boolean(settings.onlyAllowSignedMetadata);
  $("jwks-card").hidden = !rs256 && !settings.jwksUri;
  $("jwks-saved").hidden = !settings.jwksUri;
  $("jwks-saved-uri").textContent = settings.jwksUri || "";
  $("jwks-locked").hidden = !locked;
  $("jwks-uri").disabled = locked;
  $("jwks-test").disabled = locked;
  $("jwks-save").disabled = locked || testedUri === null || $("jwks-uri").value !== testedUri;
}

function setBusy(busy) {
  for (const field of TOGGLES) $(field).disabled = busy || Boolean(locks[field]);
  $("toggles-card").toggleAttribute("aria-busy", busy);
}

/**
 * Which toggles a rule locks now: ask the API with a dry run of each flip (confirmed, so only a
 * real refusal answers), and disable the ones it refuses, saying why. Nothing is written.
 */
async function probeLocks() {
  const probe = ++probing;
  const settings = current;
  // Only what a rule can refuse is asked: turning Only allow signed metadata on, and, while it is
  // on, turning a signing mode off (refusals answer at once; an allowed flip costs a 24-hour read).
  const flips = settings.onlyAllowSignedMetadata
    ? TOGGLES.filter((field) => field !== "onlyAllowSignedMetadata" && settings[field])
    : ["onlyAllowSignedMetadata"];
  const answers = await Promise.all(
    flips.map((field) =>
      ctx
        .call("PATCH", "/settings", { [field]: !settings[field], confirmation: CONFIRMATION_PHRASE, dryRun: true })
        .then(() => null, (error) => REFUSAL_WORDS[error.code] || null),
    ),
  );
  if (probe !== probing) return;
  locks = Object.fromEntries(flips.map((field, i) => [field, answers[i]]).filter(([, reason]) => reason));
  render(current);
}

/** "Saved: Use signed metadata is on." in the toggles' own words, after every saved change. */
function saved(before, after) {
  const changed = TOGGLES.filter((field) => Boolean(before && before[field]) !== Boolean(after[field]));
  const words = changed.map((field) => `${$(field).labels[0].textContent} is ${after[field] ? "on" : "off"}`);
  status($("settings-status"), "ok", `Saved at ${when(after.updatedAt)}: ${words.join("; ") || "no change"}.`);
}

async function apply(change) {
  const before = current;
  const after = await ctx.call("PATCH", "/settings", change);
  render(after);
  saved(before, after);
  await probeLocks();
}

async function changeToggle(field) {
  const wanted = $(field).checked;
  const change = { [field]: wanted };
  const errorLine = $("toggles-error");
  status(errorLine, "", "");
  setBusy(true);
  try {
    // The API decides what needs the typed confirmation: try without it first (nothing changes
    // when it is required), rather than copying the rules into the page.
    await apply(change);
  } catch (error) {
    if (error.code === "confirmation_required") await confirmAndApply(field, change);
    else refuse(error);
  } finally {
    setBusy(false);
    if (current) render(current);
    // A disabled control loses focus: give it back, unless the admin has moved on meanwhile.
    if (!document.activeElement || document.activeElement === document.body) $(field).focus();
  }
}

async function confirmAndApply(field, change) {
  const confirmed = { ...change, confirmation: CONFIRMATION_PHRASE };
  let impact;
  try {
    // The same checks as the real change: a refusal is shown before anything is asked.
    impact = impactSentence(await ctx.call("PATCH", "/settings", { ...confirmed, dryRun: true }));
  } catch (error) {
    return refuse(error);
  }
  const words = CONSEQUENCES[`${field}:${change[field]}`] || GENERIC;
  const ok = await confirmChange({ ...words, impact, typed: true, okLabel: "Confirm" });
  if (!ok) return undefined;
  try {
    await apply(confirmed);
  } catch (error) {
    refuse(error);
  }
  return undefined;
}

function impactSentence(dryRun) {
  const impact = (dryRun && dryRun.impact) || {};
  const lost = impact.wouldDrop || {};
  const sessions = Number(lost.sessions || 0);
  const events = Number(lost.events || 0);
  const hours = impact.hours || 24;
  if (!sessions && !events) return `In the last ${plural(hours, "hour")}, this would have dropped nothing.`;
  return `In the last ${plural(hours, "hour")}, this would have dropped ${plural(sessions, "session")} and ${plural(events, "event")}.`;
}

function refuse(error) {
  status($("toggles-error"), "error", REFUSAL_WORDS[error.code] || describe(error));
}

// ------------------------------------------------------------------------------------ JWKS URI

function showResult(...children) {
  $("jwks-result").replaceChildren(...children);
}

function failure(error) {
  return h(
    "div",
    { className: "result error", role: "alert" },
    h("p", { className: "message" }, error.message || "The test failed."),
    error.detail ? h("p", { className: "detail" }, error.detail) : null,
  );
}

async function testUri(event) {
  event.preventDefault();
  const uri = $("jwks-uri").value; // sent exactly as typed: the test and the save are of one text
  testedUri = null;
  $("jwks-save").disabled = true;
  $("jwks-test").disabled = true;
  showResult(h("p", { className: "status loading" }, "Testing the URI…"));
  try {
    const report = await ctx.call("POST", "/jwks-uri/test", { uri });
    if ($("jwks-uri").value !== uri) return; // edited while testing: that answer is for another text
    testedUri = uri;
    const rows = (report.keys || []).map((key) => [h("code", {}, key.kid), key.kty, key.alg, Number(key.bits)]);
    showResult(
      h(
        "div",
        { className: "result ok" },
        h("p", { className: "message" }, `The URI passed its test: ${plural(rows.length, "usable key")}. Save it within 15 minutes.`),
        dataTable({ "aria-label": "Keys found at the JWKS URI" }, ["Key id (kid)", "Type", "Algorithm", "Bits"], rows),
      ),
    );
  } catch (error) {
    showResult(failure(error));
  } finally {
    render(current || {});
  }
}

async function saveUri() {
  const uri = testedUri;
  if (uri === null || $("jwks-uri").value !== uri) return;
  $("jwks-save").disabled = true;
  try {
    const settings = await ctx.call("PUT", "/jwks-uri", { uri });
    testedUri = null;
    render(settings);
    showResult(h("p", { className: "result ok message", role: "status" }, `Saved at ${when(settings.updatedAt)}.`));
    await probeLocks();
  } catch (error) {
    showResult(failure(error));
    render(current || {});
  }
}
