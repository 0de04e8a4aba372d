/* calgen's one script, inlined in every page (nothing is loaded from elsewhere).
   A static page cannot know when it is read, so without a script it says nothing about
   "now". With one: what is "nu" and "volgende" by the reader's own clock, written in
   Dutch time (Europe/Amsterdam) wherever the reader is, checked again every minute;
   and the copy buttons beside the feed addresses (hidden without a script: the
   addresses are text to select). Elements with data-start (and data-end) are marked;
   data-phase marks the phases of the first screen. */
(function () {
  "use strict";
  var MINUTE = 60000;
  var format = null;
  try {
    format = new Intl.DateTimeFormat("nl-NL", {
      timeZone: "Europe/Amsterdam", weekday: "long", day: "numeric", month: "long",
      year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23"
    });
  } catch (e) { /* no time zones: no "now" line, the marks still work */ }

  function all(selector) {
    return Array.prototype.slice.call(document.querySelectorAll(selector));
  }

  /* `dinsdag 29 maart, 10.00 uur`, in Amsterdam, as the runbooks write times; the year
     only when it is not the year of go-live (the heading says that one) */
  function dutch(ms, year) {
    var p = {};
    format.formatToParts(new Date(ms)).forEach(function (x) { p[x.type] = x.value; });
    return p.weekday + " " + p.day + " " + p.month + (p.year === year ? "" : " " + p.year) +
      ", " + p.hour + "." + p.minute + " uur";
  }

  function at(el, name) {
    var value = el.getAttribute(name);
    return value ? Date.parse(value) : NaN;
  }

  function add(parent, tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text) { el.textContent = text; }
    parent.appendChild(el);
    return el;
  }

  /* a "nu" or "volgende" label after the item's name or number (its first link or
     <strong>, in a row's first cell) */
  function mark(el, kind) {
    el.classList.add("is-" + kind);
    var host = el.tagName === "TR" ? el.cells[0] : el;
    var after = host.querySelector("a, strong");
    var badge = document.createElement("strong");
    badge.className = "mark mark-" + kind;
    badge.textContent = kind;
    var gap = document.createTextNode(" ");
    if (el.hasAttribute("data-phase")) {  /* inside the phase's name: one grid cell */
      after.appendChild(gap);
      after.appendChild(badge);
    } else if (after && after.parentNode === host) {
      host.insertBefore(badge, after.nextSibling);
      host.insertBefore(gap, badge);
    } else {
      host.appendChild(gap);
      host.appendChild(badge);
    }
  }

  function clear() {
    all(".mark, .made-by-script").forEach(function (el) {
      var gap = el.previousSibling;
      if (el.classList.contains("mark") && gap && gap.nodeType === 3 && gap.nodeValue === " ") {
        gap.parentNode.removeChild(gap);
      }
      el.parentNode.removeChild(el);
    });
    all(".is-nu, .is-volgende, .is-voorbij").forEach(function (el) {
      el.classList.remove("is-nu", "is-volgende", "is-voorbij");
    });
    all(".deadlines > li[hidden]").forEach(function (el) { el.hidden = false; });
  }

  function link(parent, id) {
    var a = add(parent, "a", "", id.replace(/^m-/, ""));
    a.href = "#" + id;
  }

  function update() {
    var now = Date.now();
    clear();
    var running = null;
    var phases = all("[data-phase]");
    phases.forEach(function (el) {
      if (at(el, "data-start") <= now && now < at(el, "data-end")) { running = el; }
    });
    if (running) { mark(running, "nu"); }
    var items = all("[data-start]:not([data-phase])");
    var next = Infinity;
    items.forEach(function (el) {
      var start = at(el, "data-start");
      if (start > now && start < next) { next = start; }
    });
    var upcoming = [];
    items.forEach(function (el) {
      var start = at(el, "data-start");
      var end = at(el, "data-end");
      if (start <= now && now < end) {
        mark(el, "nu");
      } else if (start === next) {
        mark(el, "volgende");
        if (el.tagName === "TR" && upcoming.indexOf(el.id) < 0) { upcoming.push(el.id); }
      } else if ((isNaN(end) ? start : end) <= now) {
        el.classList.add("is-voorbij");
      }
    });
    foldPast();
    sayNow(now, running, phases, upcoming, next);
    drawNow(now);
  }

  /* the first screen's deadlines that are over fold into one line, so the next is near
     the top */
  function foldPast() {
    all("ol.deadlines").forEach(function (list) {
      var past = all("ol.deadlines > li.is-voorbij").filter(function (li) {
        return li.parentNode === list;
      });
      if (!past.length) { return; }
      var line = document.createElement("li");
      line.className = "made-by-script past";
      line.appendChild(document.createTextNode("Al voorbij: "));
      past.forEach(function (li, i) {
        li.hidden = true;
        if (i) { line.appendChild(document.createTextNode(", ")); }
        var a = li.querySelector("a");
        link(line, a.getAttribute("href").slice(1));
      });
      list.insertBefore(line, list.firstChild);
    });
  }

  /* `Nu: dinsdag 29 maart, 10.00 uur (Nederlandse tijd). Volgende: 3.1.2, 3.1.3, 3.2.1
     op woensdag 30 maart, 17.00 uur.` (the running phase is marked "nu" below it) */
  function sayNow(now, running, phases, upcoming, next) {
    all("p.now").forEach(function (line) {
      var live = document.querySelector("time[datetime]");
      if (!format || !live) { return; }
      var year = live.getAttribute("datetime").slice(0, 4);
      var text = add(line, "span", "made-by-script");
      text.appendChild(document.createTextNode(
        "Nu: " + dutch(now, year) + " (Nederlandse tijd). "));
      if (!running && phases.length && now < at(phases[0], "data-start")) {
        text.appendChild(document.createTextNode("De migratie is nog niet begonnen. "));
      } else if (phases.length && now >= at(phases[phases.length - 1], "data-end")) {
        text.appendChild(document.createTextNode("De migratie is voorbij. "));
      }
      if (upcoming.length) {
        text.appendChild(document.createTextNode("Volgende: "));
        upcoming.forEach(function (id, i) {
          if (i) { text.appendChild(document.createTextNode(", ")); }
          link(text, id);
        });
        text.appendChild(document.createTextNode(" op " + dutch(next, year) + "."));
      }
      line.hidden = false;
    });
  }

  /* a line at the reader's now on the desktop timeline, when now is in its window */
  function drawNow(now) {
    all("svg[data-from]").forEach(function (svg) {
      var from = at(svg, "data-from");
      var to = at(svg, "data-to");
      if (!(from <= now && now <= to)) { return; }
      var left = Number(svg.getAttribute("data-left"));
      var right = Number(svg.getAttribute("data-right"));
      var x = (left + (now - from) / (to - from) * (right - left)).toFixed(1);
      var ns = "http://www.w3.org/2000/svg";
      var group = document.createElementNS(ns, "g");
      group.setAttribute("class", "made-by-script now-line");
      var line = document.createElementNS(ns, "line");
      [["x1", x], ["x2", x], ["y1", 16], ["y2", svg.viewBox.baseVal.height]].forEach(
        function (a) { line.setAttribute(a[0], a[1]); });
      var label = document.createElementNS(ns, "text");
      label.setAttribute("x", x);
      label.setAttribute("y", 26);
      label.setAttribute("text-anchor", "middle");
      label.textContent = "nu";
      group.appendChild(line);
      group.appendChild(label);
      svg.appendChild(group);
    });
  }

  /* copy buttons: the address to the clipboard, or selected for Ctrl+C when that is
     refused; said in a status line for screen readers */
  var status = null;
  function announce(text) {
    if (!status) {
      status = add(document.body, "p", "visually-hidden");
      status.setAttribute("role", "status");
    }
    status.textContent = text;
  }

  function copy(button) {
    var address = button.getAttribute("data-copy");
    var label = button.querySelector(".label");
    function done(ok) {
      label.textContent = ok ? "Gekopieerd" : "Selecteer en kopieer";
      announce(ok ? "Adres gekopieerd: " + address
        : "Kopiëren lukte niet: het adres is geselecteerd, kopieer het met Ctrl+C of Cmd+C.");
      window.setTimeout(function () { label.textContent = "Kopieer"; }, 3000);
    }
    function select() {
      var range = document.createRange();
      range.selectNodeContents(button.parentNode.querySelector("code"));
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      done(ok);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(address).then(function () { done(true); }, select);
    } else {
      select();
    }
  }

  all("button.copy").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { copy(button); });
  });
  update();
  window.setInterval(update, MINUTE);
}());
