// Small progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";

  // Forms with data-confirm ask before submitting (retry all, abandon, new token).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Copy buttons for the one-time API token.
  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.getAttribute("data-copy-target"));
      if (!input) return;
      input.select();
      // The word comes from the page, in the page's language.
      var done = function () { button.textContent = button.getAttribute("data-copied-label") || "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () {
          document.execCommand("copy"); done();
        });
      } else {
        document.execCommand("copy"); done();
      }
    });
  });
  document.querySelectorAll("[data-select-on-focus]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });

  // Move focus to an error summary so keyboard and screen-reader users hear it first;
  // failing that, to what the last action did (a flash after a POST and its redirect).
  var summary = document.getElementById("error-summary");
  var flashes = document.getElementById("flashes");
  if (summary) summary.focus();
  else if (flashes) flashes.focus();
})();
