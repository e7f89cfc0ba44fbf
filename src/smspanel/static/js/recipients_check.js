// Before sending: how many of the compose form's numbers will be skipped and why (opted
// out, on the do-not-call register for a commercial send, fixed line, pager, not mobile),
// and the size with the unsubscribe statement when commercial. The server words the
// sentences (POST /compose/recipients-check, with the form's CSRF token), so they are in
// the page's language and follow the same rules as the send itself. Each answer goes on to
// the counter (compose.js) as a "recipients-checked" event: how many numbers get the SMS.
(function () {
  "use strict";
  var form = document.getElementById("compose-form");
  var out = document.getElementById("recipients-check");
  if (!form || !out || !window.fetch) return;
  var url = out.getAttribute("data-url");
  var watched = ["recipients", "commercial", "content", "enquiry_number"];
  var timer = null;
  var latest = 0;

  function show(answer) {
    var parts = [answer.summary, answer.unknown_summary, answer.commercial_summary].filter(Boolean);
    out.textContent = parts.join(" ");
    out.hidden = parts.length === 0;
  }

  function check() {
    var asked = ++latest;
    var numbers = document.getElementById("recipients").value;
    var body = new FormData(form);
    fetch(url, { method: "POST", body: body, credentials: "same-origin",
                 headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (!answer || asked !== latest) return;
        show(answer);
        form.dispatchEvent(new CustomEvent("recipients-checked", {
          detail: { recipients: numbers, deliverable: answer.deliverable }
        }));
      })
      .catch(function () { /* the send itself still checks every number */ });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  }

  var commercial = document.getElementById("commercial");
  watched.forEach(function (name) {
    var field = document.getElementById(name);
    if (!field) return;
    var sizeOnly = name === "content" || name === "enquiry_number";
    field.addEventListener(field.type === "checkbox" ? "change" : "input", function () {
      // The text matters only for the size with the statement.
      if (!sizeOnly || (commercial && commercial.checked)) later();
    });
  });
  if (document.getElementById("recipients").value.trim()) check();
})();
