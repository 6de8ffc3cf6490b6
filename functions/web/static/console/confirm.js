// The confirmation dialog: a title, what will happen (a checklist), what it would drop (filled in
// when known), and either a typed "I understand" (changes that drop data) or a plain confirm.

import { $, h } from "./dom.js";

export const CONFIRMATION_PHRASE = "I understand";

/**
 * Ask before a change. `impact` is a promise of a sentence (or of nothing) shown while the dialog
 * is open. Resolves true only when the admin confirmed (and typed the phrase when `typed`).
 */
export function confirmChange({ title, lead, checklist, impact, typed, okLabel, checking = "Checking what this would drop…" }) {
  const dialog = $("confirm-dialog");
  const phrase = $("confirm-phrase");
  const ok = $("confirm-ok");
  const impactLine = $("confirm-impact");
  $("confirm-title").textContent = title;
  $("confirm-lead").textContent = lead;
  $("confirm-checklist").replaceChildren(...checklist.map((item) => h("li", {}, item)));
  ok.textContent = okLabel;
  $("confirm-typed").hidden = !typed;
  phrase.value = "";
  ok.disabled = Boolean(typed);
  const sync = () => {
    ok.disabled = typed && phrase.value.trim() !== CONFIRMATION_PHRASE;
  };
  phrase.addEventListener("input", sync);

  impactLine.className = "impact loading";
  impactLine.textContent = checking;
  let open = true;
  Promise.resolve(impact).then(
    (sentence) => {
      if (!open) return;
      impactLine.className = "impact";
      impactLine.textContent = sentence || "";
      impactLine.hidden = !sentence;
    },
    () => {
      if (!open) return;
      impactLine.className = "impact";
      impactLine.textContent = "What this would drop could not be checked.";
    },
  );
  impactLine.hidden = false;

  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        open = false;
        phrase.removeEventListener("input", sync);
        const confirmed = dialog.returnValue === "confirm" && !(typed && phrase.value.trim() !== CONFIRMATION_PHRASE);
        phrase.value = "";
        resolve(confirmed);
      },
      { once: true },
    );
    dialog.returnValue = "";
    dialog.showModal();
    (typed ? phrase : $("confirm-cancel")).focus();
  });
}
