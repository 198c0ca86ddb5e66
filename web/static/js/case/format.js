// How the case page writes times and roles for people: Beijing time, the roles' names.

import { t } from "../i18n.js";

/** A protocol timestamp as Beijing time, in the page's language; "" for nothing. */
export function when(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return "";
  return d.toLocaleString(document.documentElement.lang || undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "Asia/Shanghai",
  });
}

export function roleName(role) {
  return { applicant: t("Applicant"), respondent: t("Respondent"), mediator: t("Mediator"), agent: t("Agent") }[role] || role || "";
}
