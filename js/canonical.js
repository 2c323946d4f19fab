// Payload equality for the browser client: the canonical form of a request
// body, the same definition as the server's (crates/protocol), checked
// against the same table, tests/vectors/payload.json.
//
//   JSON (application/json, application/*+json, or no type and a body):
//     RFC 8785 — JSON.parse, then members sorted by UTF-16 code units at every
//     depth, JSON.stringify's strings and numbers (RFC 8785 specifies exactly
//     ECMAScript's). A body with a number of more than 15 significant digits,
//     a number out of range, a lone surrogate or more than 127 nested arrays
//     and objects is compared as it is ("raw"), as on the server.
//   application/x-www-form-urlencoded (a string or URLSearchParams):
//     pairs decoded, sorted by name then value, re-serialized.
//   FormData: entries sorted; a text field as its name and value, a File as
//     its name, file name, type and size. The server compares a file's bytes;
//     the client decides synchronously and cannot read them, so two files of
//     the same name, type and size are one payload here and two on the server
//     (a reused key then gets the server's 422, never a second effect).
//   Anything else: the string as it is.
//
// Synchronous, no dependencies, no top-level await.

const JSON_TYPE = /^application\/(?:json|[^;]*\+json)$/;
const MAX_DEPTH = 127;
const MAX_DIGITS = 15;
const NUMBER = /-?(\d+)(?:\.(\d+))?(?:[eE][-+]?\d+)?/y;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** The canonical payload: `form` names the rule applied, `text` the form. */
export function canonicalPayload(body, contentType) {
  if (body == null) return { form: "raw", text: "" };
  if (typeof FormData !== "undefined" && body instanceof FormData) {
    return { form: "multipart", text: canonicalFormData(body) };
  }
  if (typeof URLSearchParams !== "undefined" && body instanceof URLSearchParams) {
    return { form: "urlencoded", text: sortedParams(body).toString() };
  }
  const text = String(body);
  const media = contentType == null ? null : String(contentType).split(";")[0].trim().toLowerCase();
  if (media === "application/x-www-form-urlencoded") {
    // "&" first: URLSearchParams would drop a leading "?", the server does not.
    return { form: "urlencoded", text: sortedParams(new URLSearchParams("&" + text)).toString() };
  }
  if ((media === null && text !== "") || (media !== null && JSON_TYPE.test(media))) {
    const json = canonicalJson(text);
    if (json !== null) return { form: "json", text: json };
  }
  return { form: "raw", text };
}

/** Whether two bodies are the same payload. */
export function samePayload(a, b) {
  return a.form === b.form && a.text === b.text;
}

function canonicalJson(text) {
  if (!withinLimits(text)) return null;
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  try {
    return write(value);
  } catch (e) {
    if (e === NOT_CANONICAL) return null;
    throw e;
  }
}

const NOT_CANONICAL = {};

function write(value) {
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) throw NOT_CANONICAL;
    return JSON.stringify(value);
  }
  if (typeof value === "number" && !Number.isFinite(value)) throw NOT_CANONICAL;
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return "[" + value.map(write).join(",") + "]";
  const keys = Object.keys(value).sort();
  return "{" + keys.map((k) => write(k) + ":" + write(value[k])).join(",") + "}";
}

// Outside strings: nesting depth, and the significant digits of each number.
function withinLimits(text) {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) i++;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DEPTH) return false;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (m === null) return true; // not JSON: JSON.parse says so
      const digits = (m[1] + (m[2] || "")).replace(/^0+/, "").replace(/0+$/, "");
      if (digits.length > MAX_DIGITS) return false;
      i += m[0].length - 1;
    }
  }
  return true;
}

function byText(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedParams(params) {
  const pairs = [...params].sort((x, y) => byText(x[0], y[0]) || byText(x[1], y[1]));
  return new URLSearchParams(pairs);
}

// As a browser sends FormData (the HTML multipart/form-data encoding
// algorithm): line breaks become CRLF; in names and file names '"', CR and LF
// are percent-encoded. The server sees, and compares, that form.
const wellFormed = (s) => (typeof s.toWellFormed === "function" ? s.toWellFormed() : s);
const crlf = (s) => wellFormed(s).replace(/\r\n|\r|\n/g, "\r\n");
const escapeName = (s) => crlf(s).replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/"/g, "%22");
const encoder = new TextEncoder();
const field = (s) => encoder.encode(s).length + ":" + s;

function canonicalFormData(form) {
  const entries = [];
  for (const [name, value] of form) {
    const n = escapeName(name);
    if (typeof value === "string") {
      entries.push({ name: n, kind: 0, rest: [crlf(value)], text: "t" + field(n) + field(crlf(value)) });
    } else {
      const filename = escapeName(value.name);
      const type = (value.type || "application/octet-stream").toLowerCase();
      const rest = [filename, type, value.size];
      entries.push({ name: n, kind: 1, rest, text: "f" + field(n) + field(filename) + field(type) + "size:" + value.size });
    }
  }
  entries.sort((a, b) => {
    const order = byText(a.name, b.name) || a.kind - b.kind;
    if (order) return order;
    for (let i = 0; i < a.rest.length; i++) {
      const d = typeof a.rest[i] === "number" ? a.rest[i] - b.rest[i] : byText(a.rest[i], b.rest[i]);
      if (d) return d;
    }
    return 0;
  });
  return entries.map((e) => e.text).join("");
}
