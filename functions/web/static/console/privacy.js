// Privacy (SPEC 9): request an erasure of a visitor or an account (typed "I understand"), follow
// the erasures until they complete, and lift suppressions. The API keeps only a keyed hash of a
// subject's id, so lifting a suppression asks the admin to type the id again.

import { confirmChange } from "./confirm.js";
import { $, describe, fillTable, h, status, when } from "./dom.js";

const KINDS = { visitor: "Visitor", account: "Account" };
const STORES = { dataTable: "DataTable", landing: "Landing", tables: "Tables" };
// While an erasure is pending or running, the list reloads itself this often (visible view only).
const FOLLOW_MS = 3000;

let ctx = null;
let followTimer = null;
let lifting = null; // the suppression whose id the lift form asks for

function setUp(context) {
  ctx = context;
  // The view shows before this module has loaded: the subject may already have been changed.
  const labelTheId = () => {
    $("erase-id-label").textContent = `Id of the ${$("erase-kind").value === "account" ? "account" : "visitor"} to erase`;
  };
  labelTheId();
  $("erase-kind").addEventListener("change", labelTheId);
  $("erase-form").addEventListener("submit", requestErasure);
  // Disabled in the page until now: a native submit would put the subject's id in the URL.
  $("erase-submit").disabled = false;
  $("erasures-refresh").addEventListener("click", () => loadErasures().catch(() => {}));
  $("lift-form").addEventListener("submit", liftSuppression);
  $("lift-cancel").addEventListener("click", closeLift);
}

export function loadPrivacy(context) {
  if (ctx === null) setUp(context);
  return Promise.all([loadErasures(), loadSuppressions()]);
}

function visible() {
  return ctx.session !== null && !$("view-privacy").hidden;
}

async function requestErasure(event) {
  event.preventDefault();
  const kind = $("erase-kind").value;
  const subjectId = $("erase-id").value.trim();
  const suppress = $("erase-suppress").checked;
  const error = $("erase-error");
  status(error, "error", "");
  status($("erase-status"), "", "");
  if (!subjectId) {
    status(error, "error", `Enter the ${kind} id to erase.`);
    $("erase-id").focus();
    return;
  }
  const ok = await confirmChange({
    title: `Erase this ${kind}?`,
    lead: `${KINDS[kind]} id: ${subjectId}`,
    checklist: [
      `Every session, metadata and event of this ${kind} is removed from DataTable, the landing objects and the tables.`,
      "Erasing is permanent: the data cannot be brought back.",
      suppress
        ? `New sessions and metadata of this ${kind} are dropped until you lift the suppression.`
        : `New sessions of this ${kind} are accepted again (tick Suppress to drop them).`,
    ],
    impact: null,
    typed: true,
    okLabel: "Erase",
  });
  if (!ok) return;
  const submit = $("erase-submit");
  submit.disabled = true;
  status($("erase-status"), "loading", "Requesting the erasure…");
  try {
    const erasure = await ctx.call("POST", "/erasures", { [`${kind}Id`]: subjectId, suppress });
    const again = !erasure.subject || erasure.subject.id === undefined;
    status(
      $("erase-status"),
      "ok",
      again
        ? `An erasure of this ${kind} is already ${erasure.status}: ${erasure.erasureId}.`
        : `Erasure ${erasure.erasureId} requested. It completes by ${when(erasure.deadline)}.`,
    );
    $("erase-id").value = "";
    $("erase-suppress").checked = false;
  } catch (failure) {
    status($("erase-status"), "", "");
    status(error, "error", `The erasure was not requested. ${describe(failure)}`);
    return;
  } finally {
    submit.disabled = false;
  }
  await loadPrivacy().catch(() => {});
}

/** "removed: items 3, lines 8 · remaining 0" for each store the erasure reports. */
function storesCell(stores) {
  const entries = Object.entries(stores || {});
  if (!entries.length) return h("span", { className: "muted" }, "—");
  return h(
    "ul",
    { className: "stores" },
    entries.map(([name, store]) => {
      const removed = Object.entries((store && store.removed) || {})
        .map(([what, count]) => `${what} ${count}`)
        .join(", ");
      const remaining = store && store.remaining !== undefined && store.remaining !== null ? store.remaining : "—";
      return h("li", {}, h("strong", {}, STORES[name] || name), `: removed ${removed || "nothing"}; remaining ${remaining}`);
    }),
  );
}

export async function loadErasures() {
  clearTimeout(followTimer);
  const line = $("erasures-status");
  status(line, "loading", "Loading erasures…");
  let answer;
  try {
    answer = await ctx.call("GET", "/erasures");
  } catch (error) {
    status(line, "error", `The erasures could not be loaded. ${describe(error)}`);
    throw error;
  }
  const erasures = answer.erasures || [];
  const rows = erasures.map((erasure) =>
    h(
      "tr",
      {},
      h("td", {}, h("code", {}, erasure.erasureId)),
      h("td", {}, KINDS[erasure.subject && erasure.subject.kind] || String((erasure.subject && erasure.subject.kind) || "—"), erasure.suppress ? h("span", { className: "muted" }, ", with suppression") : null),
      h("td", {}, h("span", { className: `badge ${erasure.status}` }, erasure.status)),
      h("td", {}, when(erasure.requestedAt)),
      h("td", {}, when(erasure.deadline)),
      h("td", {}, when(erasure.completedAt)),
      h("td", {}, storesCell(erasure.stores)),
    ),
  );
  fillTable($("erasures-table"), rows, line, "No erasure has been requested.");
  if (erasures.some((erasure) => erasure.status === "pending" || erasure.status === "running")) {
    followTimer = setTimeout(() => {
      if (visible()) loadErasures().catch(() => {});
    }, FOLLOW_MS);
  }
}

export async function loadSuppressions() {
  const line = $("suppressions-status");
  status(line, "loading", "Loading suppressions…");
  let answer;
  try {
    answer = await ctx.call("GET", "/suppressions");
  } catch (error) {
    status(line, "error", `The suppressions could not be loaded. ${describe(error)}`);
    throw error;
  }
  const rows = (answer.suppressions || []).map((suppression) => {
    const kind = KINDS[suppression.kind] || String(suppression.kind);
    const lift = h("button", { type: "button", className: "danger-quiet" }, "Lift");
    lift.setAttribute("aria-label", `Lift the suppression of erasure ${suppression.erasureId}`);
    lift.addEventListener("click", () => openLift(suppression, lift));
    return h(
      "tr",
      {},
      h("td", {}, kind),
      h("td", {}, h("code", {}, suppression.erasureId)),
      h("td", { className: "nowrap" }, when(suppression.createdAt)),
      h("td", { className: "row-actions" }, lift),
    );
  });
  fillTable($("suppressions-table"), rows, line, "No subject is suppressed.");
}

function openLift(suppression, button) {
  lifting = { ...suppression, button };
  const kind = suppression.kind === "account" ? "account" : "visitor";
  $("lift-lead").textContent = `Lift the suppression made by erasure ${suppression.erasureId}: type the ${kind} id it erased. Its new sessions and metadata are accepted again.`;
  $("lift-id-label").textContent = `Id of the suppressed ${kind}`;
  $("lift-id").value = "";
  status($("lift-error"), "error", "");
  $("lift-form").hidden = false;
  $("lift-id").focus();
}

function closeLift() {
  const button = lifting && lifting.button;
  lifting = null;
  $("lift-form").hidden = true;
  $("lift-id").value = "";
  status($("lift-error"), "error", "");
  if (button && button.isConnected) button.focus();
}

async function liftSuppression(event) {
  event.preventDefault();
  if (!lifting) return;
  const kind = lifting.kind === "account" ? "account" : "visitor";
  const subjectId = $("lift-id").value.trim();
  const error = $("lift-error");
  if (!subjectId) {
    status(error, "error", `Type the ${kind} id whose suppression to lift.`);
    $("lift-id").focus();
    return;
  }
  const submit = $("lift-submit");
  submit.disabled = true;
  try {
    await ctx.call("DELETE", `/suppressions/${kind}s/${encodeURIComponent(subjectId)}`);
  } catch (failure) {
    const text =
      failure.status === 404
        ? `No ${kind} is suppressed under this id. Check the id you typed.`
        : `The suppression was not lifted. ${describe(failure)}`;
    status(error, "error", text);
    $("lift-id").focus();
    return;
  } finally {
    submit.disabled = false;
  }
  lifting = null;
  $("lift-form").hidden = true;
  $("lift-id").value = "";
  await loadSuppressions().catch(() => {});
  status($("suppressions-status"), "ok", `The suppression is lifted: new sessions of this ${kind} are accepted again.`);
  $("suppressions-title").focus();
}
