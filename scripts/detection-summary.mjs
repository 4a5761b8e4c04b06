// The live summary `npm start` prints: one short line per detection read from the embedded sink's
// events file (time, priority, rule, source, collector), throttled so an attack does not flood the
// terminal. Everything in an event came from a log line: it is hostile (escape sequences that
// would drive the terminal, huge fields, anything that is not the shape we expect).
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';

const FIELD_MAX = 48;
/** Longest events-file line parsed; longer ones (a runaway record) are skipped, not buffered. */
const LINE_MAX = 1024 * 1024;

/** Printable text only: control characters (ESC, CR, BEL …) would let a log line drive the terminal. */
function clean(value, max = FIELD_MAX) {
  if (value === undefined || value === null) return '';
  const text = (typeof value === 'string' ? value : Array.isArray(value) ? value.join(',') : String(value))
    // C0/C1 controls and DEL, and the Unicode line/paragraph separators.
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ')
    .trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const get = (obj, path) => path.reduce((o, k) => (o !== null && typeof o === 'object' && !Array.isArray(o) ? o[k] : undefined), obj);

/** True for rule matches and correlation alerts (ECS event.kind signal or alert), whatever else is published. */
export function isDetection(event) {
  const kind = get(event, ['event', 'kind']);
  return kind === 'signal' || kind === 'alert';
}

function clock(ts) {
  const d = new Date(typeof ts === 'string' || typeof ts === 'number' ? ts : Number.NaN);
  return Number.isNaN(d.getTime()) ? '--:--:--' : d.toTimeString().slice(0, 8);
}

/** One detection as one line, or undefined when it is not a detection. */
export function summarise(event) {
  if (event === null || typeof event !== 'object' || Array.isArray(event) || !isDetection(event)) return undefined;
  const matches = get(event, ['fabric', 'matches']);
  const firstMatch = Array.isArray(matches) ? matches[0] : undefined;
  const rule = get(event, ['rule', 'title']) ?? get(firstMatch, ['title']) ?? get(event, ['rule', 'name']) ?? get(event, ['message']) ?? 'detection';
  const priority = get(event, ['fabric', 'priority']) ?? get(event, ['rule', 'level']) ?? '';
  const source = get(event, ['source', 'ip']) ?? get(event, ['source', 'address']) ?? get(event, ['host', 'name']) ?? get(event, ['host', 'hostname']) ?? '-';
  const collector = get(event, ['fabric', 'collector']) ?? '-';
  return `${clock(event['@timestamp'])}  ${clean(priority, 8).toUpperCase().padEnd(8)}  ${clean(rule).padEnd(32)}  ${clean(source, 40).padEnd(15)}  ${clean(collector, 32)}`;
}

/**
 * At most `limit` lines per window of `windowMs`; what is held back is counted and told in one
 * line when the window ends ("…and N more in the last 5 s"). `now` is injectable for tests.
 */
export class Throttle {
  constructor({ limit = 5, windowMs = 5000, now = Date.now } = {}) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.now = now;
    this.windowStart = now();
    this.shown = 0;
    this.held = 0;
  }

  /** Lines to print now for this one (the closing line of the last window first, if any). */
  offer(line) {
    const out = this.tick();
    if (this.shown < this.limit) {
      this.shown += 1;
      out.push(line);
    } else this.held += 1;
    return out;
  }

  /** Call periodically: closes the window when it is over. */
  tick() {
    const out = [];
    if (this.now() - this.windowStart >= this.windowMs) {
      if (this.held > 0) out.push(`…and ${this.held} more in the last ${Math.round(this.windowMs / 1000)} s`);
      this.windowStart = this.now();
      this.shown = 0;
      this.held = 0;
    }
    return out;
  }
}

/**
 * Follows a JSON-lines file from its current end (what was there before this run is not news),
 * handing each complete new line to `onEvent` parsed (lines that are not JSON are skipped). A
 * file that shrinks (replaced, truncated) is read again from its start.
 */
export class EventsFollower {
  constructor(path, onEvent) {
    this.path = path;
    this.onEvent = onEvent;
    this.offset = undefined;
    this.partial = '';
    this.skipping = false;
  }

  poll() {
    let fd;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return; // not written yet
    }
    try {
      const size = fstatSync(fd).size;
      if (this.offset === undefined) this.offset = size;
      if (size < this.offset) {
        this.offset = 0;
        this.partial = '';
      }
      const buf = Buffer.alloc(64 * 1024);
      while (this.offset < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - this.offset), this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.take(buf.subarray(0, n).toString('utf8'));
      }
    } finally {
      closeSync(fd);
    }
  }

  take(chunk) {
    let text = chunk;
    if (this.skipping) {
      // The rest of an overlong line, up to its newline, is dropped too.
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      text = text.slice(nl + 1);
      this.skipping = false;
    }
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > LINE_MAX) {
      this.partial = '';
      this.skipping = true;
    }
    for (const line of lines) {
      if (line.length === 0 || line.length > LINE_MAX) continue;
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        continue;
      }
      this.onEvent(event);
    }
  }
}
