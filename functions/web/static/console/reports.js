// Raw Events (with a visitor filter), Diagnostics and Coverage: read-only views of what arrived.

import { $, countsTable, dataTable, describe, fillTable, h, plural, stamp, status, when } from "./dom.js";

const MODES = { hs256: "HS256", rs256: "RS256", unsigned: "Unsigned" };

let ctx;

export function setUpReports(context) {
  ctx = context;
  $("raw-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadRawEvents(ctx).catch(() => {});
  });
  $("raw-clear").addEventListener("click", () => {
    $("raw-visitor").value = "";
    loadRawEvents(ctx).catch(() => {});
  });
  $("diagnostics-refresh").addEventListener("click", () => loadDiagnostics(ctx).catch(() => {}));
  $("coverage-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadCoverage(ctx).catch(() => {});
  });
}

/** Run `load` with the view's status line showing loading, then nothing, or the error. */
async function withStatus(line, what, load) {
  status(line, "loading", `Loading ${what}…`);
  try {
    await load();
  } catch (error) {
    status(line, "error", `The ${what} could not be loaded. ${describe(error)}`);
    throw error;
  }
}

function verifiedBy(verification) {
  const mode = MODES[verification && verification.mode] || String((verification && verification.mode) || "—");
  const by = verification && (verification.keyName || verification.kid);
  return by ? [mode, " ", h("code", {}, by)] : mode;
}

function compactJson(value) {
  if (value === null || value === undefined) return "—";
  const text = JSON.stringify(value);
  return text.length > 80 ? h("span", { title: text }, `${text.slice(0, 79)}…`) : text;
}

export function loadRawEvents(context) {
  ctx = context;
  const visitorId = $("raw-visitor").value.trim();
  const line = $("raw-status");
  return withStatus(line, "events", async () => {
    const answer = await ctx.call("GET", "/raw-events", undefined, { visitorId, limit: $("raw-limit").value });
    const rows = (answer.events || []).map((event) => [
      stamp(event.receivedAt),
      event.type,
      event.name ?? "—",
      event.visitorId,
      event.accountId || "—",
      verifiedBy(event.verification),
      compactJson(event.properties),
    ]);
    const empty = visitorId ? `No accepted events of visitor “${visitorId}”.` : "No accepted events yet.";
    fillTable($("raw-table"), rows, line, empty);
    if (rows.length) status(line, "", `${plural(rows.length, "event")}, newest first${visitorId ? ` (visitor “${visitorId}”)` : ""}.`);
  });
}

function total(counts) {
  return Object.values(counts || {}).reduce((sum, value) => sum + Number(value || 0), 0);
}

export function loadDiagnostics(context) {
  ctx = context;
  const line = $("diagnostics-status");
  return withStatus(line, "diagnostics", async () => {
    const answer = await ctx.call("GET", "/diagnostics");
    const counts = answer.counts || {};
    const figures = [
      ["Accepted", counts.accepted || 0],
      ["Duplicates", counts.duplicates || 0],
      ["Rejected", total(counts.rejected)],
      ["Dropped", total(counts.dropped)],
    ];
    $("diagnostics-figures").replaceChildren(...figures.map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, value))));
    $("dropped-reasons").replaceChildren(countsTable(counts.dropped, "Dropped, by reason", "Nothing was dropped."));
    $("rejected-reasons").replaceChildren(countsTable(counts.rejected, "Rejected events, by reason", "No event was rejected."));
    const drops = (answer.recentDrops || []).map((drop) => [
      stamp(drop.at),
      h("code", {}, drop.reason),
      drop.route || "—",
      drop.keyName || drop.kid ? h("code", {}, drop.keyName || drop.kid) : "—",
      typeof drop.events === "number" ? drop.events : "—",
    ]);
    const table = dataTable({ "aria-labelledby": "drops-title" }, ["When", "Reason", "Route", "Key or kid", "Events"], drops);
    $("recent-drops").replaceChildren(drops.length ? table : h("p", { className: "status empty" }, "No drops."));
    $("diagnostics-body").hidden = false;
    status(line, "", "");
  });
}

function usageTable(entries, label, nameOf, emptyText) {
  if (!entries.length) return h("p", { className: "status empty" }, emptyText);
  const rows = entries.map((entry) => [
    h("code", {}, nameOf(entry)),
    Number(entry.sessions || 0),
    Number(entry.events || 0),
    stamp(entry.lastUsedAt, "Never"),
  ]);
  return dataTable({ "aria-label": label }, [label, "Sessions", "Events", "Last used"], rows);
}

export function loadCoverage(context) {
  ctx = context;
  const line = $("coverage-status");
  return withStatus(line, "coverage", async () => {
    const answer = await ctx.call("GET", "/coverage", undefined, { hours: $("coverage-hours").value });
    const sessions = answer.sessions || {};
    const events = answer.events || {};
    fillTable(
      $("coverage-modes"),
      Object.entries(MODES).map(([mode, name]) => [name, Number(sessions[mode] || 0), Number(events[mode] || 0)]),
    );
    const lost = answer.wouldDrop || {};
    const span = `From ${when(answer.from)} to ${when(answer.to)}`;
    $("coverage-would-drop").textContent = `${span}: only allowing signed metadata would have dropped ${plural(Number(lost.sessions || 0), "session")} and ${plural(Number(lost.events || 0), "event")}.`;
    $("coverage-keys").replaceChildren(usageTable(answer.keys || [], "Key name", (entry) => entry.keyName, "No HS256 key signed anything in this window."));
    $("coverage-kids").replaceChildren(usageTable(answer.kids || [], "Key id (kid)", (entry) => entry.kid, "No RS256 key signed anything in this window."));
    $("coverage-body").hidden = false;
    status(line, "", "");
  });
}
