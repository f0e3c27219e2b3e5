// JSON on the wire, exact: states hold counts and clocks up to 2^63−1, which
// JSON.parse and JSON.stringify round past 2^53.  Outgoing states travel as
// their canonical text (Raw), written into the frame as they are; incoming
// integers beyond 2^53 are read as Raw text, and a state holding them is
// handed to the core as text.  Nothing here knows what a state means.

/** JSON text to write as it is. */
export class Raw {
  constructor(text) {
    this.text = text;
  }
}

const utf8 = new TextEncoder();

/** Bytes of the UTF-8 of s. */
export const byteLength = (s) => (s.length * 3 < 1e4 && /^[\0-\x7f]*$/.test(s) ? s.length : utf8.encode(s).length);

/**
 * JSON.stringify, with Raw values written as their text.  A Raw stands in
 * as "\u0000<index>" first: no state, key or protocol string holds U+0000
 * (PostgreSQL text cannot), so the placeholder is never mistaken.
 */
export function stringify(v) {
  const raws = [];
  const text = JSON.stringify(v, (_, x) => (x instanceof Raw ? `\0${raws.push(x.text) - 1}` : x));
  return raws.length ? text.replace(/"\\u0000(\d+)"/g, (_, i) => raws[i]) : text;
}

/**
 * JSON.parse, except that an integer beyond 2^53 becomes a Raw of its
 * digits.  Such an integer is first rewritten as {"\u0000": "<digits>"}
 * (strings are matched whole so that digits inside them are left alone),
 * which the reviver turns into the Raw.
 */
export function parse(text) {
  if (/\d{16}/.test(text))
    try {
      return JSON.parse(
        text.replace(/"(?:[^"\\]|\\.)*"|\d{16,}/g, (m) => (m[0] === '"' || Number.isSafeInteger(+m) ? m : `{"\\u0000":"${m}"}`)),
        (_, v) => (v?.["\0"] !== undefined ? new Raw(v["\0"]) : v),
      );
    } catch {
      // not our rewriting's to fix (a fraction or exponent after 16 digits): parsed as it is
    }
  return JSON.parse(text);
}

/** A state from the wire (parsed, possibly with Raw integers, or text) as text for the core. */
export const stateText = (json) => (typeof json === "string" ? json : stringify(json));
