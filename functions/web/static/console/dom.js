// Small DOM helpers. Every string that reaches the page becomes a text node: API text is never
// parsed as HTML (no innerHTML anywhere in the console).

export const $ = (id) => document.getElementById(id);

/** h("td", {className: "x"}, "text", child) -> an element; strings and numbers become text nodes. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (["className", "textContent", "type", "value", "dateTime"].includes(name)) element[name] = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Show `text` in a status line (kind: "loading" | "empty" | "error" | "ok"), or hide it. */
export function status(element, kind, text) {
  element.className = `status ${kind || ""}`.trim();
  element.textContent = text || "";
  element.hidden = !text;
}

/** One-line explanation of a failed call: the API's message, its detail, and its code. */
export function describe(error) {
  if (!error || !error.code) return "Something went wrong. Try again.";
  return error.detail ? `${error.message} ${error.detail}` : error.message;
}

/** A cell: numbers are right-aligned figures; strings and nodes as they are. */
function cell(value) {
  return typeof value === "number" ? h("td", { className: "num" }, value) : h("td", {}, value);
}

/** Fill a table's body with rows (arrays of cells: strings or nodes); show `empty` when none. */
export function fillTable(table, rows, statusLine, empty) {
  const body = table.tBodies[0];
  body.replaceChildren(...rows.map((cells) => (cells instanceof Node ? cells : h("tr", {}, cells.map(cell)))));
  if (table.classList.contains("stacked")) labelCells(table);
  table.hidden = rows.length === 0;
  if (statusLine) status(statusLine, rows.length ? "" : "empty", rows.length ? "" : empty);
}

/**
 * A `stacked` table becomes one card per row on a phone (console.css), each value under its
 * column's name: every cell gets that name, and every part its role, which CSS display would
 * otherwise take from the table in some screen readers.
 */
function labelCells(table) {
  const names = [...table.tHead.rows[0].cells].map((th) => (th.querySelector(".sr-only") ? "" : th.textContent.trim()));
  for (const row of table.tBodies[0].rows) {
    row.setAttribute("role", "row");
    [...row.cells].forEach((td, i) => {
      td.setAttribute("role", "cell");
      td.dataset.label = names[i] || "";
    });
  }
}

/** Whether column `i` of `rows` holds figures (numbers), as `cell` shows them. */
function figures(rows, i) {
  return rows.length > 0 && typeof rows[0][i] === "number";
}

/** A table in its own scrolling box. `name` is {"aria-label": …} or {"aria-labelledby": …}. */
export function dataTable(name, headers, rows) {
  return h(
    "div",
    { className: "scroll" },
    h(
      "table",
      name,
      // A figures column's header is right-aligned over its figures.
      h("thead", {}, h("tr", {}, headers.map((header, i) => h("th", { scope: "col", className: figures(rows, i) ? "num" : "" }, header)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map(cell)))),
    ),
  );
}

/** "2026-11-26T10:41:00Z" or epoch milliseconds -> "2026-11-26 10:41 UTC"; null -> fallback. */
export function when(value, fallback = "—") {
  if (value === null || value === undefined || value === "") return fallback;
  const date = typeof value === "number" ? new Date(value) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** A table cell's time: `when(value)` that does not wrap, with the machine-readable value. */
export function stamp(value, fallback = "—") {
  const text = when(value, fallback);
  if (text === fallback) return text;
  const iso = typeof value === "number" ? new Date(value).toISOString() : String(value);
  return h("time", { dateTime: iso, className: "nowrap" }, text);
}

export function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
