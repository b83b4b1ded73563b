// panel.js: the reply box's canned replies. Picking one puts its text in
// the box to edit before sending (delegated, so it works on fragments htmx
// swaps in). Without JavaScript the server sends the picked macro when the
// box is left empty.
document.addEventListener("change", function (e) {
  var pick = e.target;
  if (!pick.matches || !pick.matches("[data-macro-picker]")) return;
  var opt = pick.options[pick.selectedIndex];
  var box = pick.form && pick.form.querySelector("[data-macro-target]");
  if (!opt || !box || !opt.dataset.text) return;
  box.value = box.value.trim() === "" ? opt.dataset.text : box.value.replace(/\s+$/, "") + "\n\n" + opt.dataset.text;
  pick.value = "";
  box.focus();
});

// A form with data-confirm (deleting a CRM record) asks before it posts.
document.addEventListener("submit", function (e) {
  var form = e.target;
  var msg = form.dataset && form.dataset.confirm;
  if (msg && !window.confirm(msg)) e.preventDefault();
});
