// Live counter for /compose and the template form. It counts as services/content.py does,
// over the table the server renders into the counter box's data-counter (the GSM 03.38
// sets, the segment sizes, the replacement table), and writes the words that come with it,
// in the reader's language. On /compose the SMS is the content plus " EN:<8 digits>" (services/compose.py),
// and for a commercial send the unsubscribe statement (services/commercial.py, its text in the
// commercial box's data-statement); the whole send counts the numbers that are not skipped, as
// the server's numbers check (recipients_check.js) answers. A template is counted as written,
// placeholders included.
//   GSM-7: one septet a character, two for the extension table; 160 in one SMS, else parts
//   of 153. Anything else: UCS-2, UTF-16 units (two for a character outside the BMP); 70 in
//   one SMS, else parts of 67. Parts never split an escape pair or a surrogate pair.
// The template form also lists the ((placeholders)) it finds, each once, as the server would.
(function () {
  "use strict";
  var form = document.getElementById("compose-form") || document.getElementById("template-form");
  var box = document.getElementById("content-counter");
  if (!form || !box || !box.hasAttribute("data-counter")) return;
  var config = JSON.parse(box.getAttribute("data-counter"));
  var rules = config.rules;
  var words = config.words;
  var basic = new Set(Array.from(rules.gsmBasic));
  var extended = new Set(Array.from(rules.gsmExtended));
  var numbers = new Intl.NumberFormat(document.documentElement.lang || undefined);
  var phone = /^(?:\+?852 ?)?([0-9]{4}) ?([0-9]{4})$/;
  var lineBreak = /\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/;  // Python's str.splitlines()
  var placeholder = /\(\(([^()]*)\)\)/g;
  // i18n.py `text_language`: Chinese when Han characters are at least as many as Latin words.
  var han = /[\u3100-\u312f\u31a0-\u31bf\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u{20000}-\u{3134f}]/gu;
  var latinWord = /[A-Za-z]+/g;
  var ANNOUNCE_AFTER_MS = 700;  // a screen reader hears one sentence once typing pauses

  var recipients = document.getElementById("recipients");  // compose only
  var content = document.getElementById("content");
  var enquiry = document.getElementById("enquiry_number");  // compose only
  var commercial = document.getElementById("commercial");  // compose only
  var statement = commercial ? commercial.getAttribute("data-statement") || "" : "";
  var out = {
    box: box,
    recipients: form.querySelector("[data-recipient-count]"),
    chars: form.querySelector("[data-char-count]"),
    segments: form.querySelector("[data-segment-count]"),
    encoding: form.querySelector("[data-encoding]"),
    forcing: form.querySelector("[data-forcing]"),
    forcingList: form.querySelector("[data-forcing-list]"),
    replace: form.querySelector("[data-replace-gsm]"),
    over: form.querySelector("[data-over-limit]"),
    announcement: form.querySelector("[data-counter-announcement]"),
    preview: form.querySelector("[data-preview]"),
    total: form.querySelector("[data-send-total]"),
    placeholders: form.querySelector("[data-placeholder-list]"),
    noPlaceholders: form.querySelector("[data-no-placeholders]"),
    quota: form.querySelector("[data-quota-usage]")  // compose, for a user in a department
  };

  // "%(num)s segments" and its values, as Python's % does it.
  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    });
  }

  // ngettext: the server passes each word's singular and plural (one form in Chinese).
  function plural(forms, n) {
    return fill(n === 1 ? forms.one : forms.other, { num: numbers.format(n) });
  }

  function isGsm(ch) { return basic.has(ch) || extended.has(ch); }

  // content.py `_packed`: parts of `part` units; a pair on a part's edge opens the next part.
  function packed(units, pairStarts, single, part) {
    if (units <= single) return units ? 1 : 0;
    var segments = 1;
    var start = 0;
    while (units - start > part) {
      var end = start + part;
      start = pairStarts.has(end - 1) ? end - 1 : end;
      segments += 1;
    }
    return segments;
  }

  // content.py `measure`: encoding, characters (code points, as Python's len), units, segments.
  function measure(text) {
    var chars = Array.from(text);
    var gsm = chars.every(isGsm);
    var units = 0;
    var pairStarts = new Set();
    chars.forEach(function (ch) {
      var width = gsm ? (extended.has(ch) ? 2 : 1) : ch.length;  // ch.length: UTF-16 units
      if (width === 2) pairStarts.add(units);
      units += width;
    });
    return {
      encoding: gsm ? "GSM-7" : "UCS-2",
      characters: chars.length,
      units: units,
      segments: gsm ? packed(units, pairStarts, rules.gsmSingle, rules.gsmPart)
                    : packed(units, pairStarts, rules.ucsSingle, rules.ucsPart)
    };
  }

  // content.py `characters_forcing_ucs2`: named only in an otherwise GSM-7 text.
  function forcingCharacters(text) {
    var chars = Array.from(text);
    var found = new Map();
    var total = 0;
    for (var i = 0; i < chars.length; i++) {
      var ch = chars[i];
      if (isGsm(ch)) continue;
      total += 1;
      if (total * rules.namedShare > chars.length) return [];
      if (!found.has(ch)) found.set(ch, []);
      found.get(ch).push(i + 1);
      if (found.size > rules.namedAtMost) return [];
    }
    return Array.from(found, function (entry) {
      var replacement = Object.prototype.hasOwnProperty.call(rules.replacements, entry[0])
        ? rules.replacements[entry[0]] : null;
      return { character: entry[0], positions: entry[1], replacement: replacement };
    });
  }

  // content.py `replace_with_gsm7`.
  function replaceWithGsm(text) {
    return Array.from(text).map(function (ch) {
      return Object.prototype.hasOwnProperty.call(rules.replacements, ch) ? rules.replacements[ch] : ch;
    }).join("");
  }

  function codePoint(ch) {
    return "U+" + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
  }

  function element(tag, text, className) {
    var node = document.createElement(tag);
    node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  // The same list _counter.html renders: the character, its code point, where, its stand-in.
  function listForcing(forcing) {
    out.forcingList.replaceChildren.apply(out.forcingList, forcing.map(function (f) {
      var item = document.createElement("li");
      var shown = f.positions.slice(0, 5).join(", ") + (f.positions.length > 5 ? "…" : "");
      var at = fill(f.positions.length === 1 ? words.positions.one : words.positions.other,
                    { positions: shown });
      item.append(element("code", f.character.trim() ? f.character : "␣"), " ",
                  element("span", codePoint(f.character), "muted"), " ", element("span", at), " ");
      if (f.replacement !== null) item.append("→ ", element("code", f.replacement));
      else item.append(element("span", words.noEquivalent, "muted"));
      return item;
    }));
    out.forcing.hidden = forcing.length === 0;
    out.replace.hidden = forcing.length === 0 || !forcing.every(function (f) { return f.replacement !== null; });
  }

  function enquiryDigits(raw) {
    var match = phone.exec(raw.trim());
    return match ? match[1] + match[2] : null;
  }

  // services/commercial.py `with_statement`: on a new line at the end, unless already there.
  function withStatement(text) {
    if (!statement || text.indexOf(statement) !== -1) return text;
    return text + "\n" + statement;
  }

  function composed() {
    var text = content.value.replace(/\r\n?/g, "\n");
    if (!enquiry) return text;
    text += rules.enquiryPrefix + (enquiryDigits(enquiry.value) || "XXXXXXXX");
    return commercial && commercial.checked ? withStatement(text) : text;
  }

  // The server's answer for these very numbers: the page renders it (a refused form), then
  // recipients_check.js passes each one on. Until it comes, every valid number, each once.
  var checked = null;
  var total = out.total;
  if (recipients && total && total.hasAttribute("data-deliverable")) {
    checked = { recipients: recipients.value, deliverable: Number(total.dataset.deliverable) };
  }
  form.addEventListener("recipients-checked", function (event) {
    checked = event.detail;
    update();
  });

  // The non-blank lines, and the numbers that will get the SMS.
  function recipientFigures() {
    var lines = recipients.value.split(lineBreak).filter(function (l) { return l.trim() !== ""; });
    if (checked && checked.recipients === recipients.value) {
      return { lines: lines.length, numbers: checked.deliverable };
    }
    var distinct = new Set();
    lines.forEach(function (line) {
      var digits = enquiryDigits(line);
      if (digits) distinct.add(digits);
    });
    return { lines: lines.length, numbers: distinct.size };
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
      item.appendChild(element("code", "((" + name + "))"));
      return item;
    }));
    if (out.noPlaceholders) out.noPlaceholders.hidden = names.length > 0;
  }

  var sentence = "";
  var announceTimer = null;

  function update() {
    var text = composed();
    var s = measure(text);
    var characters = fill(words.characters, { num: String(s.characters), max: String(rules.maxLength) });
    var segments = plural(words.segments, s.segments);
    var encoding = words.encodings[s.encoding];
    out.chars.textContent = characters;
    out.segments.textContent = segments;
    out.encoding.textContent = encoding;
    out.box.dataset.measuredEncoding = s.encoding;
    out.box.dataset.measuredCharacters = String(s.characters);
    out.box.dataset.measuredUnits = String(s.units);
    out.box.dataset.measuredSegments = String(s.segments);
    var over = s.characters > rules.maxLength;
    out.over.hidden = !over;
    out.box.classList.toggle("is-over", over);

    var forcing = forcingCharacters(text);
    listForcing(forcing);
    var spoken = words.spoken;
    var said = {
      characters: plural(spoken.characters, s.characters),
      sms: plural(words.sms, s.segments),
      forcing: plural(spoken.forcing, forcing.length)
    };
    var key = forcing.length ? "Forcing" : "";

    if (recipients && out.recipients) {
      var figures = recipientFigures();
      out.recipients.textContent = plural(words.recipientLines, figures.lines);
      if (out.total) {
        out.total.textContent = fill(words.total, {
          recipients: plural(words.recipients, figures.numbers),
          segments: segments,
          total: plural(words.sms, figures.numbers * s.segments)
        });
      }
      if (figures.numbers) {
        said.recipients = plural(words.recipients, figures.numbers);
        said.total = plural(words.sms, figures.numbers * s.segments);
        key = "Total" + key;
      }
      if (out.quota) showQuotaNeed(figures.numbers * s.segments);
    }
    sentence = fill(spoken["sentence" + key], said);
    if (out.preview) showPreview(text);
    if (out.placeholders) listPlaceholders(text);
  }

  // The preview carries the text's language, as the server marks it (the `lang_attribute` filter).
  function showPreview(text) {
    out.preview.textContent = text;
    var hans = (text.match(han) || []).length;
    if (hans && hans >= (text.match(latinWord) || []).length) out.preview.lang = "zh-Hant-HK";
    else out.preview.removeAttribute("lang");
  }

  // What the typed send would take of the month's quota (the server decides at send).
  function showQuotaNeed(needed) {
    var line = out.quota.querySelector("[data-quota-needed]");
    var over = out.quota.querySelector("[data-quota-over]");
    var quota = Number(out.quota.dataset.quota);
    line.hidden = needed === 0;
    line.textContent = fill(line.dataset.words, { needed: numbers.format(needed) });
    over.hidden = !quota || Number(out.quota.dataset.used) + needed <= quota;
  }

  // One polite sentence once typing pauses, and only when it says something new.
  function announceLater() {
    clearTimeout(announceTimer);
    announceTimer = setTimeout(function () {
      if (out.announcement.textContent !== sentence) out.announcement.textContent = sentence;
    }, ANNOUNCE_AFTER_MS);
  }

  [recipients, content, enquiry].forEach(function (el) {
    if (el) el.addEventListener("input", function () { update(); announceLater(); });
  });
  if (commercial) commercial.addEventListener("change", function () { update(); announceLater(); });
  out.replace.addEventListener("click", function () {
    content.value = replaceWithGsm(content.value);
    content.focus();  // the button hides itself once the text is GSM-7
    update();
    announceLater();
  });
  update();
})();
