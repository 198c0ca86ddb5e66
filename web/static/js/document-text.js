// A server-made document (the rights notice, an agreement's preview) shown inside a page: its
// text and plain structure only — headings, paragraphs, lists, tables — never its attributes,
// styles, images or scripts. The page's Content-Security-Policy forbids inline styles, and
// what a person signs must read the same whatever the document's own styling.

const KEEP = new Set([
  "H1", "H2", "H3", "H4", "P", "OL", "UL", "LI", "DL", "DT", "DD", "TABLE", "THEAD", "TBODY", "TR", "TH", "TD",
  "DIV", "SECTION", "STRONG", "EM", "B", "I", "BR",
]);

/** The document's nodes, ready to append: the section in `lang` when it has one per language. */
export function documentNodes(html, { lang = null } = {}) {
  // Without its <head> (a <style> there would trip the page's policy even in a parsed document
  // that is never shown) and anything that is not text and structure.
  const body = String(html || "").replace(/<head[\s\S]*?<\/head>|<style[\s\S]*?<\/style>|<script[\s\S]*?<\/script>/gi, "");
  const doc = new DOMParser().parseFromString(body, "text/html");
  let from = doc.body;
  if (lang) {
    const want = lang === "en" ? "en" : "zh";
    const section = [...doc.querySelectorAll("section[lang]")].find((s) => s.getAttribute("lang").toLowerCase().startsWith(want));
    if (section) from = section;
  }
  const copy = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent);
    if (node.nodeType !== Node.ELEMENT_NODE) return null;
    const kids = [...node.childNodes].map(copy).filter(Boolean).flat();
    if (!KEEP.has(node.tagName)) return kids.length ? kids : null;
    const out = document.createElement(node.tagName.toLowerCase());
    if ((node.tagName === "TD" || node.tagName === "TH") && node.getAttribute("colspan")) {
      out.colSpan = Number(node.getAttribute("colspan")) || 1;
    }
    out.append(...kids);
    return out;
  };
  return [...from.childNodes].map(copy).flat().filter(Boolean);
}
