#!/usr/bin/env node
// Independent iCalendar reader #1: ical.js (npm package "ical.js", v2.x).
//
// Usage:   node tests/readers/icaljs_read.mjs FILE.ics [FILE.ics ...]
// Output:  JSON object on stdout, {FILE: [event, ...]}, one event per VEVENT, sorted by uid:
//            {"uid", "summary", "start", "end", "sequence", "status", "last_modified"}
//          start/end are "YYYY-MM-DDTHH:MM:SSZ" (UTC instant) for DATE-TIME
//          values and "YYYY-MM-DD" for DATE values.
// Errors:  exit 1 with the library's message on stderr.
//
// Time-zone source: ONLY the VTIMEZONE components of the file itself.
// ical.js ships no tz database; a TZID resolves through ICAL.TimezoneService,
// which starts out holding nothing but UTC/Z/GMT. This reader registers every
// VTIMEZONE of the file there before any DTSTART/DTEND value is decoded (the
// values are decoded lazily, and the TZID lookup happens at decode time).
// ical.js silently turns an unknown TZID into a *floating* time (which
// toUnixTime() would then treat as UTC); this reader refuses that instead:
// an unresolved TZID or a floating time is an error (exit 2).
// UTC instants come from ical.js's own conversion
// (Time.convertToZone(ICAL.Timezone.utcTimezone)); no offset arithmetic here.
//
// Folding and UTF-8: ICAL.parse takes a JS string, so the caller has to decode
// the bytes first. RFC 5545 section 3.1 lets a writer fold a line inside a
// multi-octet UTF-8 sequence and requires readers to unfold so that the
// original sequence is restored. Decoding before unfolding would turn such a
// split character into U+FFFD (that is what happens when the file is read
// with readFileSync(path, "utf8") and handed to ICAL.parse). So this reader
// unfolds at the octet level first (removes CRLF or LF followed by one space
// or tab, exactly as the RFC defines unfolding), then decodes strictly as
// UTF-8 (invalid UTF-8 is an error, not a silent U+FFFD), then lets ical.js
// parse. Set ICALJS_READ_DECODE_FIRST=1 to hand ical.js the naively decoded
// text instead, i.e. to see what a client that decodes first would show.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

let current = ""; // the file being read, named in every failure

function fail(message, code = 1) {
  process.stderr.write(`icaljs_read: ${current ? current + ": " : ""}${message}\n`);
  process.exit(code);
}

const paths = process.argv.slice(2);
if (paths.length === 0) {
  fail("usage: icaljs_read.mjs FILE.ics [FILE.ics ...]", 64);
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

function formatTime(time, what, uid) {
  if (time.isDate) {
    return `${pad(time.year, 4)}-${pad(time.month)}-${pad(time.day)}`;
  }
  const zone = time.zone;
  if (!zone || zone === ICAL.Timezone.localTimezone || zone.tzid === "floating") {
    const tzid = time._tzidParam;
    fail(
      tzid
        ? `${uid}: ${what} TZID=${tzid} does not resolve to a VTIMEZONE of the file`
        : `${uid}: ${what} is a floating time (no TZID, no Z): it has no UTC instant`,
      2,
    );
  }
  const u = time.convertToZone(ICAL.Timezone.utcTimezone);
  return (
    `${pad(u.year, 4)}-${pad(u.month)}-${pad(u.day)}` +
    `T${pad(u.hour)}:${pad(u.minute)}:${pad(u.second)}Z`
  );
}

// RFC 5545 3.1 unfolding on octets: drop every CRLF (or bare LF) that is
// immediately followed by a SPACE or HTAB, together with that one character.
function unfoldOctets(buf) {
  const out = Buffer.alloc(buf.length);
  let n = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c === 0x0d && buf[i + 1] === 0x0a && (buf[i + 2] === 0x20 || buf[i + 2] === 0x09)) {
      i += 2;
      continue;
    }
    if (c === 0x0a && (buf[i + 1] === 0x20 || buf[i + 1] === 0x09)) {
      i += 1;
      continue;
    }
    out[n++] = c;
  }
  return out.subarray(0, n);
}

function read(path) {
  current = path;
  const events = [];
  try {
    const raw = readFileSync(path);
    const text = process.env.ICALJS_READ_DECODE_FIRST
      ? raw.toString("utf8")
      : new TextDecoder("utf-8", { fatal: true }).decode(unfoldOctets(raw));
    const jcal = ICAL.parse(text);
    // A file may hold several VCALENDARs; ICAL.parse then returns an array.
    const roots = (Array.isArray(jcal[0]) ? jcal : [jcal]).map(
      (j) => new ICAL.Component(j),
    );

    ICAL.TimezoneService.reset(); // only this file's zones
    for (const root of roots) {
      for (const vtz of root.getAllSubcomponents("vtimezone")) {
        ICAL.TimezoneService.register(vtz); // name = the VTIMEZONE's TZID
      }
    }

    for (const root of roots) {
      for (const vevent of root.getAllSubcomponents("vevent")) {
        const ev = new ICAL.Event(vevent);
        const uid = ev.uid ?? "";
        const start = ev.startDate;
        if (!start) fail(`${uid}: VEVENT without DTSTART`, 2);
        // Remember the TZID parameters for error messages.
        start._tzidParam = vevent.getFirstProperty("dtstart")?.getParameter("tzid");
        // ical.js's Event.endDate: DTEND, else DTSTART + DURATION, else
        // DTSTART (+1 day for a DATE).
        const end = ev.endDate;
        end._tzidParam =
          vevent.getFirstProperty("dtend")?.getParameter("tzid") ?? start._tzidParam;
        events.push({
          uid,
          summary: ev.summary ?? "",
          start: formatTime(start, "DTSTART", uid),
          end: formatTime(end, "DTEND", uid),
          sequence: ev.sequence ?? 0,
          status: vevent.getFirstPropertyValue("status") ?? "",
          last_modified: lastModified(vevent),
          alarms: vevent.getAllSubcomponents("valarm").map((valarm) => triggerTime(valarm, start, uid)),
        });
      }
    }
  } catch (err) {
    fail(err && err.message ? err.message : String(err));
  }
  events.sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
  return events;
}

function triggerTime(valarm, start, uid) {
  // A VALARM's moment as ical.js computes it: a DATE-TIME trigger as is, a duration
  // added to DTSTART in DTSTART's own zone (ical.js's Time.addDuration).
  const trigger = valarm.getFirstPropertyValue("trigger");
  if (trigger instanceof ICAL.Duration) {
    const moment = start.clone();
    moment.addDuration(trigger);
    moment._tzidParam = start._tzidParam;
    return formatTime(moment, "TRIGGER", uid);
  }
  return formatTime(trigger, "TRIGGER", uid);
}

function lastModified(vevent) {
  // LAST-MODIFIED is UTC by RFC 5545; report it as YYYY-MM-DDTHH:MM:SSZ, or "".
  const value = vevent.getFirstPropertyValue("last-modified");
  if (!value) return "";
  return value.convertToZone(ICAL.Timezone.utcTimezone).toString().replace(/Z?$/, "Z");
}

const out = {};
for (const path of paths) out[path] = read(path);
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
