// What every part of the room's view shares: building nodes, keeping lists in step with their
// data, icons and labels. Everything people typed goes in with textContent, never as HTML.

import { t } from "../../i18n.js";

const SVG = "http://www.w3.org/2000/svg";

export function $(id) {
  return document.getElementById(id);
}

/** Listen on the element with this id, if the page has it (a role may not). */
export function listen(id, event, fn) {
  const node = $(id);
  if (node) node.addEventListener(event, fn);
}

export function roleLabel(role) {
  switch (role) {
    case "mediator": return t("Mediator");
    case "applicant": return t("Applicant");
    case "respondent": return t("Respondent");
    case "agent": return t("Agent");
    case "expert": return t("Expert");
    case "observer": return t("Observer");
    case "clerk": return t("Clerk");
    default: return role || "";
  }
}

export function qualityLabel(quality) {
  switch (quality) {
    case "good": return t("Connection good");
    case "fair": return t("Connection fair");
    case "poor": return t("Connection poor");
    case "lost": return t("Connection lost");
    default: return t("Connecting…");
  }
}

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

/** replaceChildren() that skips null (the DOM would insert the text "null"). */
export function fill(node, ...children) {
  node.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
}

/** Whether a list item already shows this data (and remember it for next time). */
export function unchanged(node, data) {
  const sig = JSON.stringify(data);
  if (node.dataset.sig === sig) return true;
  node.dataset.sig = sig;
  return false;
}

export function icon(name, cls = "icon") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", cls);
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `#${name}`);
  svg.append(use);
  return svg;
}

export function setIcon(button, name) {
  const use = button.querySelector("use");
  if (use) use.setAttribute("href", `#${name}`);
}

export function timeOf(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit" });
}

/** Make `list`'s children match `items` in order, reusing children with the same key. */
export function reconcile(list, items, key, create, update) {
  const existing = new Map([...list.children].map((child) => [child.dataset.key, child]));
  let cursor = list.firstElementChild;
  for (const item of items) {
    const k = key(item);
    let node = existing.get(k);
    if (node) existing.delete(k);
    else {
      node = create(item);
      node.dataset.key = k;
    }
    update(node, item);
    if (node !== cursor) list.insertBefore(node, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const node of existing.values()) node.remove();
}
