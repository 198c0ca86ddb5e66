// Translations for browser code. Messages are English and marked t("…"), so that
// `make messages` (Babel's JavaScript extractor, keyword t; see babel.cfg) puts them into
// web/locale with the rest. The server hands the page its language's share as JSON in
// <script type="application/json" id="i18n-catalog">, or at /i18n/<lang>.json.
//
// Placeholders are Python's: t("%(name)s joined", {name}) — Babel checks them in the catalogs.

let catalog = {};

export function loadCatalog(doc = document) {
  const el = doc.getElementById("i18n-catalog");
  try {
    catalog = el ? JSON.parse(el.textContent) : {};
  } catch {
    catalog = {};
  }
  return catalog;
}

export function setCatalog(messages) {
  catalog = messages || {};
}

const PLACEHOLDER = /%\((\w+)\)[sd]/g;

export function t(message, vars) {
  const text = catalog[message] || message;
  if (!vars) return text;
  return text.replace(PLACEHOLDER, (whole, name) => (name in vars ? String(vars[name]) : whole));
}
