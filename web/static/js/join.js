// The join link's page enters the room by itself in a real browser. Link-preview fetchers
// of chat apps run no script, so they never sign anyone in (server/pages/views.py, `join`).
const form = document.getElementById("join-form");
if (form && !sessionStorage.getItem("heshi-join-" + form.action)) {
  // Once per tab: coming back to this page with the Back button does not loop into the room.
  sessionStorage.setItem("heshi-join-" + form.action, "1");
  form.requestSubmit ? form.requestSubmit() : form.submit();
}
