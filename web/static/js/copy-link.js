// Copy-link buttons on the case page: <button class="copy" data-copy="URL" data-copied="Copied">.
// The Clipboard API needs a secure context; on plain http on a LAN we select the field and fall
// back to the old copy command, and if even that fails the link stays selected for a long press.

function fieldOf(button) {
  return button.parentElement.querySelector(".link-field");
}

function legacyCopy(button) {
  const field = fieldOf(button);
  if (!field) return false;
  field.focus();
  field.select();
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

function confirmCopied(button) {
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.textContent = button.dataset.copied || "✓";
  clearTimeout(Number(button.dataset.timer || 0));
  button.dataset.timer = String(setTimeout(() => { button.textContent = label; }, 2000));
}

async function copy(button) {
  const text = button.dataset.copy;
  let copied = false;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      copied = false;
    }
  }
  if (!copied) copied = legacyCopy(button);
  if (copied) confirmCopied(button);
}

for (const button of document.querySelectorAll("button.copy[data-copy]")) {
  button.addEventListener("click", () => copy(button));
}
