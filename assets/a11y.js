// Quasar draws the tick boxes of trees and of table row selection without an accessible name (WCAG 2.1 SC 4.1.2,
// axe rule aria-toggle-field-name). Name each one after its tree node or table row, as plain text (textContent in,
// setAttribute out: nothing is ever parsed as HTML), in the page's language.
(() => {
  const words = () =>
    document.documentElement.lang === "de"
      ? { select: "Auswählen", all: "Alle Zeilen auswählen", row: "Zeile auswählen" }
      : { select: "Select", all: "Select all rows", row: "Select row" };
  const nameOf = (box, w) => {
    const node = box.closest(".q-tree__node-header");
    if (node) {
      const text = node.querySelector(".q-tree__node-header-content")?.textContent?.trim();
      return text ? `${w.select} ${text}` : w.select;
    }
    const row = box.closest("tr");
    if (row && row.closest("thead")) return w.all;
    if (row) {
      const cell = [...row.querySelectorAll("td")].map((td) => td.textContent.trim()).find((t) => t);
      return cell ? `${w.row}: ${cell.slice(0, 80)}` : w.row;
    }
    return w.select;
  };
  let queued = false;
  const nameAll = () => {
    queued = false;
    const w = words();
    document
      .querySelectorAll('.q-checkbox[role="checkbox"]:not([aria-label]):not([aria-labelledby])')
      .forEach((box) => {
        if (!box.textContent.trim()) box.setAttribute("aria-label", nameOf(box, w));
      });
    // A scroll area must be reachable by keyboard to be scrolled without a mouse (axe scrollable-region-focusable).
    document.querySelectorAll(".q-scrollarea__container:not([tabindex])").forEach((area) => {
      area.setAttribute("tabindex", "0");
    });
  };
  new MutationObserver(() => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(nameAll);
    }
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
