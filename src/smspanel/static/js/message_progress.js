// A pending message's page follows its delivery in place: every few seconds it asks
// progress.json (web/sms.py `message_progress`, the page's own login and scope) and updates
// the badge, the counts and the rows it shows, never reloading and never moving focus
// (WCAG 2.2.1, 2.2.2). "Pause updates" (aria-pressed) stops it; once no recipient is pending
// the polite live region says one sentence, worded by the server in the reader's language.
// Without JavaScript nothing refreshes by itself: the page offers a Refresh link instead.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress]");
  if (!box || !window.fetch) return;
  var url = box.getAttribute("data-progress-url");
  var every = (parseInt(box.getAttribute("data-progress-seconds"), 10) || 3) * 1000;
  var pause = box.querySelector("[data-progress-pause]");
  var running = box.querySelector("[data-progress-running]");
  var paused = box.querySelector("[data-progress-paused]");
  var text = box.querySelector("[data-progress-text]");
  var announcement = document.querySelector("[data-progress-announcement]");
  var COUNTS = ["sent", "failed", "pending", "skipped", "cancelled"];
  var RETRY_AT_MOST = 30000;

  var timer = null;
  var delay = every;
  var isPaused = false;
  var done = false;
  var latest = 0;  // only the newest question's answer counts

  function recipientIds() {
    return Array.from(document.querySelectorAll("tr[data-recipient-id]"), function (row) {
      return row.getAttribute("data-recipient-id");
    });
  }

  function setText(node, value) {
    if (node && node.textContent !== value) node.textContent = value;
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The same markup as _macros.html `status_badge`: an icon (hidden from screen readers),
  // then the word, in the reader's language from the server.
  function badge(status) {
    var node = element("span", "status status-" + status.status);
    var icon = element("span", "", status.icon);
    icon.setAttribute("aria-hidden", "true");
    node.append(icon, " " + status.label);
    return node;
  }

  // As _macros.html `when(moment, true)`: a <time>, or a muted dash.
  function when(moment) {
    if (!moment) return element("span", "muted", "—");
    var node = element("time", "", moment.text);
    node.setAttribute("datetime", moment.iso);
    return node;
  }

  function recipientStatus(recipient) {
    var parts = [badge(recipient.status)];
    if (recipient.skip_reason) {
      var reason = element("span", "", "— " + recipient.skip_label);
      reason.setAttribute("data-skip-reason", recipient.skip_reason);
      parts.push(" ", reason);
    }
    return parts;
  }

  // A cell is rewritten only when it changed, so a screen reader's place is kept.
  function put(node, parts, key) {
    if (!node || node.getAttribute("data-shown") === key) return;
    node.setAttribute("data-shown", key);
    node.replaceChildren.apply(node, parts);
  }

  // Hidden now, or, if it has focus, once focus leaves it: focus never drops to <body>.
  function hideWhenUnfocused(node) {
    if (!node) return;
    if (node.contains(document.activeElement)) {
      node.addEventListener("focusout", function () { node.hidden = true; }, { once: true });
    } else {
      node.hidden = true;
    }
  }

  function show(answer) {
    put(document.querySelector("[data-message-status]"), [badge(answer.status)], answer.status.status);
    COUNTS.forEach(function (name) {
      setText(document.querySelector("[data-" + name + "-count]"), String(answer.counts[name]));
    });
    var cancelled = document.querySelector("[data-cancelled-stat]");
    if (cancelled && answer.counts.cancelled) cancelled.hidden = false;
    var completed = answer.completed_at;
    put(document.querySelector("[data-completed-at]"), [when(completed)], completed ? completed.iso : "");
    answer.recipients.forEach(function (recipient) {
      var row = document.querySelector('tr[data-recipient-id="' + recipient.id + '"]');
      if (!row || row.getAttribute("data-recipient-state") === recipient.state) return;
      row.setAttribute("data-recipient-state", recipient.state);
      put(row.querySelector("[data-recipient-status]"), recipientStatus(recipient), recipient.state);
      setText(row.querySelector("[data-recipient-error]"), recipient.error);
      setText(row.querySelector("[data-recipient-attempts]"), String(recipient.attempts));
      put(row.querySelector("[data-recipient-sent-at]"), [when(recipient.sent_at)], recipient.state);
    });
    setText(text, answer.text);
    if (answer.final) finish(answer);
  }

  function finish(answer) {
    done = true;
    clearTimeout(timer);
    box.setAttribute("data-progress-state", "final");
    running.hidden = true;
    paused.hidden = true;
    hideWhenUnfocused(pause);
    hideWhenUnfocused(document.querySelector("[data-cancel-form]"));  // nothing left to cancel
    announcement.textContent = answer.announcement;
  }

  function schedule(ms) {
    clearTimeout(timer);
    if (!done && !isPaused) timer = setTimeout(poll, ms);
  }

  function poll() {
    if (document.hidden) return;  // asked again when the tab is shown
    var question = ++latest;
    var asked = url + "?ids=" + encodeURIComponent(recipientIds().join(","));
    fetch(asked, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.redirected || response.status === 403 || response.status === 404) {
          return "stop";  // logged out or no longer readable: the Refresh link says why
        }
        return response.ok ? response.json() : null;
      })
      .then(function (answer) {
        if (question !== latest) return;
        if (answer === "stop") { stop(); return; }
        if (isPaused || done) return;
        if (answer) { delay = every; show(answer); } else { delay = Math.min(delay * 2, RETRY_AT_MOST); }
        schedule(delay);
      })
      .catch(function () {
        if (question !== latest) return;
        delay = Math.min(delay * 2, RETRY_AT_MOST);
        schedule(delay);
      });
  }

  function stop() {
    done = true;
    clearTimeout(timer);
    running.hidden = true;
    hideWhenUnfocused(pause);
  }

  function setPaused(value) {
    isPaused = value;
    pause.setAttribute("aria-pressed", value ? "true" : "false");
    box.setAttribute("data-progress-state", value ? "paused" : "updating");
    running.hidden = value;
    paused.hidden = !value;
    if (value) { latest++; clearTimeout(timer); } else { schedule(0); }
  }

  pause.hidden = false;
  running.hidden = false;
  pause.addEventListener("click", function () { setPaused(!isPaused); });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) schedule(0);
  });
  schedule(every);
})();
