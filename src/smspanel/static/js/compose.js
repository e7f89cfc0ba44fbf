// Live counter for /compose and the template form, mirroring services/compose.py,
// services/content.py and services/placeholders.py: on /compose the SMS is the content plus
// " EN:<8 digits>"; a template is counted as written, placeholders included. Either is
// counted in GSM-7 septets (160, then 153 per part; extension characters take two) or, if
// any character is outside GSM-7, in UCS-2 units (70, then 67 per part). The rules
// (lengths, character sets) come from the server. The template form also lists the
// ((placeholders)) it finds, each once, as the server would.
(function () {
  "use strict";
  var form = document.getElementById("compose-form") || document.getElementById("template-form");
  if (!form) return;
  var rules = JSON.parse(form.getAttribute("data-rules"));
  var basic = new Set(Array.from(rules.gsmBasic));
  var extended = new Set(Array.from(rules.gsmExtended));
  var phone = /^(?:\+?852 ?)?([0-9]{4}) ?([0-9]{4})$/;
  var placeholder = /\(\(([^()]*)\)\)/g;

  var recipients = document.getElementById("recipients");  // compose only
  var content = document.getElementById("content");
  var enquiry = document.getElementById("enquiry_number");  // compose only
  var out = {
    recipients: form.querySelector("[data-recipient-count]"),
    chars: form.querySelector("[data-char-count]"),
    segments: form.querySelector("[data-segment-count]"),
    encoding: form.querySelector("[data-encoding]"),
    over: form.querySelector("[data-over-limit]"),
    box: document.getElementById("content-counter"),
    preview: form.querySelector("[data-preview]"),
    placeholders: form.querySelector("[data-placeholder-list]"),
    noPlaceholders: form.querySelector("[data-no-placeholders]")
  };

  function enquiryDigits(raw) {
    var match = phone.exec(raw.trim());
    return match ? match[1] + match[2] : null;
  }

  function composed() {
    var text = content.value.replace(/\r\n?/g, "\n");
    if (!enquiry) return text;
    return text + rules.enquiryPrefix + (enquiryDigits(enquiry.value) || "XXXXXXXX");
  }

  function stats(text) {
    var chars = Array.from(text);  // code points, as Python's len()
    if (chars.length === 0) return { characters: 0, segments: 0, encoding: "GSM-7" };
    var gsm = chars.every(function (ch) { return basic.has(ch) || extended.has(ch); });
    var length, single, part;
    if (gsm) {
      length = chars.reduce(function (n, ch) { return n + (extended.has(ch) ? 2 : 1); }, 0);
      single = rules.gsmSingle; part = rules.gsmPart;
    } else {
      length = text.length;  // UTF-16 code units: an emoji counts two, as UCS-2 does
      single = rules.ucsSingle; part = rules.ucsPart;
    }
    return {
      characters: chars.length,
      segments: length <= single ? 1 : Math.ceil(length / part),
      encoding: gsm ? "GSM-7" : "UCS-2"
    };
  }

  // Names in order of first appearance, each once: `First name` and `first_name` are one.
  function placeholderNames(text) {
    var seen = new Set();
    var names = [];
    text.replace(placeholder, function (whole, raw) {
      var name = raw.trim();
      var key = name.replace(/[\s_\-]+/g, "").toLowerCase();
      if (key && !seen.has(key)) { seen.add(key); names.push(name); }
      return whole;
    });
    return names;
  }

  function listPlaceholders(text) {
    var names = placeholderNames(text);
    out.placeholders.replaceChildren.apply(out.placeholders, names.map(function (name) {
      var item = document.createElement("li");
      var code = document.createElement("code");
      code.textContent = "((" + name + "))";
      item.appendChild(code);
      return item;
    }));
    if (out.noPlaceholders) out.noPlaceholders.hidden = names.length > 0;
  }

  function update() {
    if (recipients && out.recipients) {
      var lines = recipients.value.split(/\r\n|\r|\n/).filter(function (l) { return l.trim() !== ""; });
      out.recipients.textContent = String(lines.length);
    }
    var text = composed();
    var s = stats(text);
    out.chars.textContent = String(s.characters);
    out.segments.textContent = String(s.segments);
    out.encoding.textContent = s.encoding;
    var over = s.characters > rules.maxLength;
    out.over.hidden = !over;
    out.box.classList.toggle("is-over", over);
    if (out.preview) out.preview.textContent = text;
    if (out.placeholders) listPlaceholders(text);
  }

  [recipients, content, enquiry].forEach(function (el) {
    if (el) el.addEventListener("input", update);
  });
  update();
})();
