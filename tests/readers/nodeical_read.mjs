#!/usr/bin/env node
// Independent iCalendar reader: node-ical (npm package "node-ical"), many files in one process.
//
// Usage:   node tests/readers/nodeical_read.mjs FILE.ics [FILE.ics ...]
// Output:  JSON object on stdout: {FILE: [{"uid", "summary", "start", "end", "alarm_count"}]}
//          sorted by uid; start/end "YYYY-MM-DDTHH:MM:SSZ" (UTC instants, node-ical's own
//          Date objects) or "YYYY-MM-DD" for an all-day date; end is null when node-ical
//          gives none. node-ical keeps TRIGGER as written (no instant): only the number
//          of VALARMs is reported.
// Errors:  exit 1 with the library's message on stderr.
import ical from "node-ical";

const pad = (n, w = 2) => String(n).padStart(w, "0");

function fmt(value) {
  if (value === undefined || value === null) return null;
  if (value.dateOnly) {
    // node-ical gives an all-day date as local midnight of that date
    return `${pad(value.getFullYear(), 4)}-${pad(value.getMonth() + 1)}-${pad(value.getDate())}`;
  }
  return value.toISOString().replace(/\.\d{3}Z$/, "Z");
}

const out = {};
try {
  for (const path of process.argv.slice(2)) {
    const events = [];
    for (const item of Object.values(ical.sync.parseFile(path))) {
      if (item.type !== "VEVENT") continue;
      events.push({
        uid: item.uid,
        summary: typeof item.summary === "string" ? item.summary : item.summary?.val ?? "",
        start: fmt(item.start),
        end: fmt(item.end),
        alarm_count: (item.alarms ?? []).length,
      });
    }
    events.sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
    out[path] = events;
  }
} catch (err) {
  process.stderr.write(`nodeical_read: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
}
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
