// Payload equality for the browser client: the canonical form of a request
// body, the same definition as the server's (crates/protocol), checked
// against the same table, tests/vectors/payload.json.
//
//   JSON (application/json, application/*+json, or no type and a body):
//     RFC 8785 — JSON.parse, then members sorted by UTF-16 code units at every
//     depth, JSON.stringify's strings and numbers (RFC 8785 specifies exactly
//     ECMAScript's). A body with a number of more than 15 significant digits,
//     a number out of range, a lone surrogate escape or more than 127 nested
//     arrays and objects (anywhere, even in a member a repeated name
//     overwrites) is compared as it is ("raw"), as on the server.
//   application/x-www-form-urlencoded (a string or URLSearchParams):
//     pairs decoded, sorted by name then value, re-serialized.
//   FormData: entries sorted; a text field as its name and value, a File as
//     its name, file name, type and size. The server compares a file's bytes;
//     the client decides synchronously and cannot read them, so two files of
//     the same name, type and size are one payload here and two on the server
//     (a reused key then gets the server's 422, never a second effect).
//   Anything else: the string as it is. Bytes (ArrayBuffer, typed arrays)
//   count as the UTF-8 text they hold; a Blob, a stream or bytes that are not
//   UTF-8 give null: the caller compares those itself.
//
// Synchronous, no dependencies, no top-level await.

const JSON_TYPE = /^application\/(?:json|[^;]*\+json)$/;
const MAX_DEPTH = 127;
const MAX_DIGITS = 15;
const NUMBER = /-?(\d+)(?:\.(\d+))?(?:[eE][-+]?\d+)?/y;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * The canonical payload: `form` names the rule applied, `text` the form; `null`
 * for a body this cannot read synchronously (a Blob or File, a stream, bytes
 * that are not UTF-8), which the caller must compare itself.
 */
export function canonicalPayload(body, contentType) {
  if (body == null) return { form: "raw", text: "" };
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
    const bytes = body instanceof ArrayBuffer ? new Uint8Array(body) : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    let text;
    try {
      text = strictDecoder.decode(bytes);
    } catch {
      return null;
    }
    return canonicalPayload(text, contentType);
  }
  if (typeof FormData !== "undefined" && body instanceof FormData) {
    return { form: "multipart", text: canonicalFormData(body) };
  }
  if (typeof URLSearchParams !== "undefined" && body instanceof URLSearchParams) {
    return { form: "urlencoded", text: serializePairs([...body]) };
  }
  if (typeof body === "object" && !(body instanceof String)) return null;
  // As sent: fetch encodes a lone surrogate as U+FFFD.
  const text = wellFormed(String(body));
  const media = contentType == null ? null : String(contentType).split(";")[0].trim().toLowerCase();
  if (media === "application/x-www-form-urlencoded") {
    return { form: "urlencoded", text: serializePairs(parsePairs(text)) };
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

// What the server's parser refuses and JSON.parse accepts, anywhere in the
// text (even in a value a repeated name overwrites): a lone surrogate escape,
// nesting deeper than 127, a number out of range or of more than 15
// significant digits.
function withinLimits(text) {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) !== 0x5c) continue;
        i++;
        if (text[i] !== "u") continue;
        const unit = parseInt(text.slice(i + 1, i + 5), 16);
        i += 4;
        if (unit >= 0xdc00 && unit <= 0xdfff) return false;
        if (unit >= 0xd800 && unit <= 0xdbff) {
          const low = text.slice(i + 1, i + 3) === "\\u" ? parseInt(text.slice(i + 3, i + 7), 16) : NaN;
          if (!(low >= 0xdc00 && low <= 0xdfff)) return false;
          i += 6;
        }
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
      if (digits.length > MAX_DIGITS || !Number.isFinite(Number(m[0]))) return false;
      i += m[0].length - 1;
    }
  }
  return true;
}

function byText(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

// The WHATWG application/x-www-form-urlencoded parser and serializer, written
// out rather than through URLSearchParams: it keeps a leading "?" as the server
// does, and some engines' URLSearchParams mis-decode a string that mixes an
// invalid percent escape with non-ASCII text (Node 20: "%FF｡" → "\uFFFDa").
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const isHex = (b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);

function percentDecode(s) {
  s = s.replace(/\+/g, " ");
  if (!s.includes("%")) return s;
  const bytes = encoder.encode(s);
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x25 && i + 2 < bytes.length && isHex(bytes[i + 1]) && isHex(bytes[i + 2])) {
      out[n++] = parseInt(String.fromCharCode(bytes[i + 1], bytes[i + 2]), 16);
      i += 2;
    } else {
      out[n++] = bytes[i];
    }
  }
  return decoder.decode(out.subarray(0, n));
}

function parsePairs(text) {
  const pairs = [];
  for (const piece of wellFormed(text).split("&")) {
    if (piece === "") continue;
    const eq = piece.indexOf("=");
    const [name, value] = eq < 0 ? [piece, ""] : [piece.slice(0, eq), piece.slice(eq + 1)];
    pairs.push([percentDecode(name), percentDecode(value)]);
  }
  return pairs;
}

const percentEncode = (s) =>
  encodeURIComponent(wellFormed(s))
    .replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, "+");

function serializePairs(pairs) {
  return pairs
    .sort((x, y) => byText(x[0], y[0]) || byText(x[1], y[1]))
    .map(([name, value]) => percentEncode(name) + "=" + percentEncode(value))
    .join("&");
}

// As a browser sends FormData (the HTML multipart/form-data encoding
// algorithm): line breaks become CRLF; in names and file names '"', CR and LF
// are percent-encoded. The server sees, and compares, that form.
const wellFormed = (s) => (typeof s.toWellFormed === "function" ? s.toWellFormed() : s);
const crlf = (s) => wellFormed(s).replace(/\r\n|\r|\n/g, "\r\n");
const escapeName = (s) => crlf(s).replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/"/g, "%22");
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
