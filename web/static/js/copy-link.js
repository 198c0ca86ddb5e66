// Copy-link buttons on the case page: <button class="copy" data-copy="URL" data-copied="Copied">.
// Falls back to selecting the field when the Clipboard API is unavailable (plain http on a LAN).

function selectSibling(button) {
  const field = button.parentElement.querySelector(".link-field");
  if (field) {
    field.focus();
    field.select();
  }
}

async function copy(button) {
  const text = button.dataset.copy;
  const label = button.textContent;
  try {
    if (!navigator.clipboard) throw new Error("no clipboard API");
    await navigator.clipboard.writeText(text);
    button.textContent = button.dataset.copied || "✓";
    setTimeout(() => { button.textContent = label; }, 1500);
  } catch {
    selectSibling(button);
  }
}

for (const button of document.querySelectorAll("button.copy[data-copy]")) {
  button.addEventListener("click", () => copy(button));
}
