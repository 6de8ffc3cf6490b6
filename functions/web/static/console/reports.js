// Raw Events (with a visitor filter), Diagnostics and Coverage: read-only views of what arrived.

import { $, dataTable, describe, fillTable, h, plural, stamp, status, when } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

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
  $("raw-more").addEventListener("click", () => {
    if (rawListing && rawListing.cursor) showRawEvents(rawListing).catch(() => {});
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

/** The listing on screen: its filter and page size, the rows so far, where the next page starts. */
let rawListing = null;

export function loadRawEvents(context) {
  ctx = context;
  rawListing = { visitorId: $("raw-visitor").value.trim(), limit: $("raw-limit").value, rows: [], cursor: undefined, loading: false };
  $("raw-more").hidden = true; // until this listing's first page says whether older events are left
  return showRawEvents(rawListing);
}

/**
 * The next page of `listing` (the first when it has no cursor yet), added under what is shown.
 * A listing loads one page at a time; an answer for a listing a newer filter replaced changes
 * nothing on the page (neither its rows, nor the button, nor the status line).
 */
async function showRawEvents(listing) {
  if (listing.loading) return;
  const line = $("raw-status");
  const more = $("raw-more");
  // The button stays enabled while a page loads (a click then does nothing): disabling it would
  // take the keyboard focus away from it.
  listing.loading = true;
  more.setAttribute("aria-busy", "true");
  status(line, "loading", "Loading events…");
  try {
    const { visitorId, limit, cursor } = listing;
    let answer;
    try {
      answer = await ctx.call("GET", "/raw-events", undefined, { visitorId, limit, cursor });
    } catch (error) {
      if (listing === rawListing) status(line, "error", `The events could not be loaded. ${describe(error)}`);
      throw error;
    }
    if (listing !== rawListing) return;
    listing.rows.push(
      ...(answer.events || []).map((event) => [
        stamp(event.receivedAt),
        event.type,
        event.name ?? "—",
        event.visitorId,
        event.accountId || "—",
        verifiedBy(event.verification),
        compactJson(event.properties),
      ]),
    );
    listing.cursor = answer.nextCursor || undefined;
    const empty = visitorId
      ? `No accepted events of visitor “${visitorId}”. Check the id (it is the one your page gives the SDK), or Clear to see every visitor.`
      : "No accepted events yet. Add the SDK to a page of your site (Install Settings has what it needs) and load the page: its events appear here within seconds.";
    fillTable($("raw-table"), listing.rows, line, empty);
    if (listing.rows.length) {
      const older = listing.cursor ? " Older events are left: Show older events lists them." : "";
      status(line, "", `${plural(listing.rows.length, "event")}, newest first${visitorId ? ` (visitor “${visitorId}”)` : ""}.${older}`);
    }
    const focused = document.activeElement === more;
    more.hidden = !listing.cursor;
    if (focused && more.hidden) line.focus(); // the last page: the count says where the list ends
  } finally {
    listing.loading = false;
    if (listing === rawListing) more.removeAttribute("aria-busy");
  }
}

function total(counts) {
  return Object.values(counts || {}).reduce((sum, value) => sum + Number(value || 0), 0);
}

/** "30 days" or "7 hours": a window in the largest whole unit. */
function span(hours) {
  return hours % 24 === 0 ? plural(hours / 24, "day") : plural(hours, "hour");
}

/**
 * A reason -> count table with what each code means and how to fix it, in the words the API
 * serves with the counts (`reasons`, from its one error table): the page keeps no copy.
 */
function reasonsTable(counts, reasons, label, emptyText) {
  const entries = Object.entries(counts || {});
  if (!entries.length) return h("p", { className: "status empty" }, emptyText);
  const rows = entries.map(([code, count]) => {
    const reason = reasons[code] || {};
    return [h("code", {}, code), Number(count), reason.meaning || "—", reason.fix || "—"];
  });
  return dataTable({ "aria-label": label }, ["Reason", "Count", "What it means", "How to fix it"], rows);
}

export function loadDiagnostics(context) {
  ctx = context;
  const line = $("diagnostics-status");
  return withStatus(line, "diagnostics", async () => {
    const answer = await ctx.call("GET", "/diagnostics");
    const counts = answer.counts || {};
    const reasons = answer.reasons || {};
    const window = answer.window || {};
    const days = span(Number(window.hours || 0));
    const figures = [
      ["Accepted", counts.accepted || 0],
      ["Duplicates", counts.duplicates || 0],
      ["Rejected", total(counts.rejected)],
      ["Dropped", total(counts.dropped)],
    ];
    $("diagnostics-window").textContent = `Counts of the last ${days}, from ${when(window.from)} to ${when(window.to)}. Recent drops are kept ${span(Number(answer.recentDropsHours || 0))}.`;
    $("diagnostics-figures").replaceChildren(...figures.map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, value))));
    const quiet = figures.every(([, value]) => !value);
    status(
      $("diagnostics-empty"),
      quiet ? "empty" : "",
      quiet ? `Nothing arrived in the last ${days}. Add the SDK to a page of your site (Install Settings has what it needs) and load it: the counts appear here within seconds.` : "",
    );
    $("dropped-reasons").replaceChildren(reasonsTable(counts.dropped, reasons, "Dropped, by reason", `Nothing was dropped in the last ${days}.`));
    $("rejected-reasons").replaceChildren(reasonsTable(counts.rejected, reasons, "Rejected events, by reason", `No event was rejected in the last ${days}.`));
    const drops = (answer.recentDrops || []).map((drop) => [
      stamp(drop.at),
      h("code", { title: (reasons[drop.reason] || {}).meaning || "" }, drop.reason),
      drop.route || "—",
      drop.keyName || drop.kid ? h("code", {}, drop.keyName || drop.kid) : "—",
      typeof drop.events === "number" ? drop.events : "—",
    ]);
    const table = dataTable({ "aria-labelledby": "drops-title" }, ["When", "Reason", "Route", "Key or kid", "Events"], drops);
    $("recent-drops").replaceChildren(drops.length ? table : h("p", { className: "status empty" }, `No drops in the last ${span(Number(answer.recentDropsHours || 0))}.`));
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
    const between = `From ${when(answer.from)} to ${when(answer.to)}`;
    $("coverage-would-drop").textContent = `${between}: only allowing signed metadata would have dropped ${plural(Number(lost.sessions || 0), "session")} and ${plural(Number(lost.events || 0), "event")}.`;
    const shares = [
      ["Signed sessions", share(sessions)],
      ["Signed events", share(events)],
    ];
    $("coverage-share").replaceChildren(...shares.map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, value))));
    const quiet = !total(sessions) && !total(events);
    status(
      $("coverage-empty"),
      quiet ? "empty" : "",
      quiet ? "No sessions or events in this window. Once your pages send traffic, this shows how much of it is signed: check it before you only allow signed metadata." : "",
    );
    const hourly = answer.hourly || [];
    $("coverage-trend").replaceChildren(
      trend(hourly),
      h(
        "div",
        { className: "trend-axis", "aria-hidden": "true" },
        h("span", {}, hourly.length ? when(hourly[0].hour) : ""),
        h("span", {}, `peak ${plural(peakOf(hourly), "session")} an hour`),
        h("span", {}, "now"),
      ),
    );
    $("coverage-keys").replaceChildren(usageTable(answer.keys || [], "Key name", (entry) => entry.keyName, "No HS256 key signed anything in this window."));
    $("coverage-kids").replaceChildren(usageTable(answer.kids || [], "Key id (kid)", (entry) => entry.kid, "No RS256 key signed anything in this window."));
    $("coverage-body").hidden = false;
    status(line, "", "");
  });
}

/** "87 %" of a {hs256, rs256, unsigned} count, or "—" when there is nothing to share. */
function share(byMode) {
  const all = total(byMode);
  if (!all) return "—";
  const signed = Number(byMode.hs256 || 0) + Number(byMode.rs256 || 0);
  return `${Math.floor((100 * signed) / all)} %`;
}

function peakOf(hourly) {
  return Math.max(0, ...hourly.map((hour) => hour.sessions.signed + hour.sessions.unsigned));
}

function svg(tag, attributes, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return element;
}

/**
 * Sessions per hour, signed stacked under unsigned: an inline SVG drawn from the API's `hourly`
 * (no library, no style attribute: the page's Content-Security-Policy holds). Its title and
 * description say in words what the bars show, for screen readers.
 */
function trend(hourly) {
  const width = 720;
  const height = 120;
  const peak = Math.max(1, peakOf(hourly));
  const step = width / Math.max(1, hourly.length);
  const bars = [];
  hourly.forEach((hour, i) => {
    const signed = (hour.sessions.signed / peak) * height;
    const unsigned = (hour.sessions.unsigned / peak) * height;
    const x = (i * step).toFixed(2);
    const w = Math.max(1, step - (step > 4 ? 1 : 0)).toFixed(2);
    if (signed) bars.push(svg("rect", { class: "signed", x, y: (height - signed).toFixed(2), width: w, height: signed.toFixed(2) }));
    if (unsigned) bars.push(svg("rect", { class: "unsigned", x, y: (height - signed - unsigned).toFixed(2), width: w, height: unsigned.toFixed(2) }));
  });
  const signedTotal = hourly.reduce((sum, hour) => sum + hour.sessions.signed, 0);
  const unsignedTotal = hourly.reduce((sum, hour) => sum + hour.sessions.unsigned, 0);
  const first = hourly.length ? when(hourly[0].hour) : "—";
  const last = hourly.length ? when(hourly[hourly.length - 1].hour) : "—";
  const described = `${plural(hourly.length, "hour")} from ${first} to ${last}: ${plural(signedTotal, "signed session")} and ${plural(unsignedTotal, "unsigned session")}, at most ${plural(peakOf(hourly), "session")} in one hour.`;
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-labelledby": "trend-title trend-desc", class: "trend" },
    svg("title", { id: "trend-title" }, "Sessions per hour, signed and unsigned"),
    svg("desc", { id: "trend-desc" }, described),
    svg("line", { class: "axis", x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5 }),
    ...bars,
  );
}
