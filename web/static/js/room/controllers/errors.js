// What a failed request means, in the reader's language (the server's message is English).

import { t } from "../../i18n.js";

export function errorText(err) {
  switch (err && err.code) {
    case "unknown_participant": return t("That person is no longer in the session.");
    case "rate_limited": return t("Too many requests: wait a moment and try again.");
    case "timeout": return t("The server did not answer. Check the network and try again.");
    case "forbidden": return t("You are not allowed to do that.");
    case "session_ended": return t("The session has ended");
    case "payload_too_large": return t("That is too long to save.");
    case "invalid_input": return t("Something in it cannot be saved (too long, or not allowed).");
    default: return t("That did not work. Try again.");
  }
}
