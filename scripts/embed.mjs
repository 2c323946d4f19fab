// The wasm embedded in the package's module as an ASCII string literal, and
// the decoder that turns it back into bytes. Used by scripts/package.mjs
// (which writes it), scripts/size-budget.mjs and the benchmarks (which read
// it back the way the module does).
//
// The encoding: every byte is shifted by `shift` (mod 256), chosen so that
// the module's most frequent bytes (0x00, LEB128 continuations, opcodes) land
// on printable characters. A shifted value that is printable (bar `"`, `\`,
// `}` and `~`) is written as itself; any other value as two characters, `~`
// or `}` and a printable one, instead of a four-character `\xNN` escape.
// gzip -9 then makes the literal about 1% larger than the raw wasm gzipped
// (base64 costs a third more); decoding is a loop over `charCodeAt`. ASCII
// only, so no bundler, minifier or charset setting can change it; `</` is
// escaped for bundles inlined into HTML.
import { runInNewContext } from "node:vm";
import { gzipSync } from "node:zlib";

const BEGIN = "// <embedded wasm>";
const END = "// </embedded wasm>";

// Printable ASCII written as itself: 91 characters (not `"`, `\`, `}`, `~`).
const DIRECT = [];
for (let c = 0x20; c < 0x7d; c++) if (c !== 0x22 && c !== 0x5c) DIRECT.push(c);
// The other 165 values, in order: 0x00–0x1f, `"`, `\`, 0x7d–0xff.
const OTHER = [];
for (let v = 0; v < 256; v++) if (!DIRECT.includes(v)) OTHER.push(v);

function literal(bytes, shift) {
  const out = ['"'];
  for (let i = 0; i < bytes.length; i++) {
    const v = (bytes[i] + shift) & 255;
    if (v === 0x3c && ((bytes[i + 1] + shift) & 255) === 0x2f) out.push("\\x3c");
    else if (DIRECT.includes(v)) out.push(String.fromCharCode(v));
    else {
      const k = OTHER.indexOf(v);
      out.push(k < DIRECT.length ? "~" : "}", String.fromCharCode(DIRECT[k % DIRECT.length]));
    }
  }
  out.push('"');
  return out.join("");
}

// The decoder, as the module runs it. For a pair, `d` is the second
// character's index in DIRECT, `k` the value's index in OTHER (after `~`:
// 0–90; after `}`: 91–164), and the value is OTHER[k] computed from k.
const decoder = (shift) => `/** The embedded wasm's bytes. */
function wasmBytes() {
    const bytes = new Uint8Array(WASM.length);
    let n = 0;
    for (let i = 0; i < WASM.length; i++) {
        let c = WASM.charCodeAt(i);
        if (c > 124) {
            const d = WASM.charCodeAt(++i);
            const k = d - 32 - (d > 34) - (d > 92) + (c === 125 ? 91 : 0);
            c = k < 32 ? k : k === 32 ? 34 : k === 33 ? 92 : k + 91;
        }
        bytes[n++] = c - ${shift};
    }
    return bytes.subarray(0, n);
}`;

/** The module source that embeds `bytes`: the literal and its decoder, with the shift that gzips smallest; checked to decode to `bytes`. */
export function embed(bytes) {
  let best;
  for (let shift = 0; shift < 256; shift++) {
    const text = literal(bytes, shift);
    const size = gzipSync(text, { level: 9 }).length;
    if (!best || size < best.size) best = { text, shift, size };
  }
  const source = `${BEGIN}
// ${bytes.length} bytes, encoded as scripts/embed.mjs describes.
const WASM = ${best.text};

${decoder(best.shift)}
${END}`;
  const back = decode(source);
  if (back.length !== bytes.length || !back.every((b, i) => b === bytes[i])) {
    throw new Error("embed.mjs: the embedded wasm does not decode to the module");
  }
  return source;
}

/** The embedding block (literal and decoder) of a module's source. */
export function block(moduleSource) {
  const begin = moduleSource.indexOf(BEGIN);
  const end = moduleSource.indexOf(END);
  if (begin < 0 || end < begin) throw new Error("embed.mjs: no embedded wasm in the module");
  return moduleSource.slice(begin, end + END.length);
}

/** The wasm embedded in a module's source, decoded as the module decodes it. */
export function decode(moduleSource) {
  return runInNewContext(`${block(moduleSource)}\nwasmBytes()`);
}
