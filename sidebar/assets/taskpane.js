// sidedesk Outlook task pane: read the open message through Office.js
// (Mailbox requirement set 1.1: item.internetMessageId, item.from,
// item.subject) and open the panel for it. No inline script: the page's
// Content-Security-Policy allows only this file and Office.js.
(function () {
  "use strict";
  function status(text) {
    var el = document.getElementById("status");
    if (el) { el.textContent = text; }
  }
  function panelURL(item) {
    var q = new URLSearchParams();
    var id = (item.internetMessageId || "").replace(/^\s*<|>\s*$/g, "");
    if (id) { q.set("message_id", id); }
    if (item.from && item.from.emailAddress) { q.set("from", item.from.emailAddress); }
    if (item.subject) { q.set("subject", item.subject); }
    return "/sidebar?" + q.toString();
  }
  function open() {
    var item = Office.context && Office.context.mailbox && Office.context.mailbox.item;
    if (!item) { status("Open an email to see its customer."); return; }
    window.location.replace(panelURL(item));
  }
  if (typeof Office === "undefined" || !Office.onReady) {
    document.addEventListener("DOMContentLoaded", function () {
      status("Office.js did not load: open this page from the Outlook add-in.");
    });
    return;
  }
  Office.onReady(function () { open(); });
})();
