// Differential fuzzing: js/canonical.js against the Rust crate on generated
// bodies (JSON, URL-encoded, and no type), mutated from the shared vectors.
// Every answer must be the same rule and the same text.
//
//   DIFF_CASES=20000 DIFF_SEED=7 node tests/vectors/differential.mjs <command that runs the `canon` example>
//
// make fuzz-smoke and make fuzz run it with
// `cargo run --quiet -p submit-guard-protocol --example canon`.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { canonicalPayload } from "../../js/canonical.js";

const command = process.argv.slice(2);
const casesArg = process.env.DIFF_CASES ?? "20000";
const seedArg = process.env.DIFF_SEED ?? String(Date.now() % 2 ** 32);
if (command.length === 0) {
  console.error("usage: node tests/vectors/differential.mjs <command that runs the canon example>");
  process.exit(2);
}
let seed = Number(seedArg) >>> 0 || 1;
const rand = (n) => {
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % n;
};
const pick = (xs) => xs[rand(xs.length)];

const vectors = JSON.parse(readFileSync(new URL("./payload.json", import.meta.url), "utf8"));
const seeds = vectors.filter((v) => !/^multipart/.test(v.contentType ?? "")).flatMap((v) => [v.a, v.b]);
const types = [null, "application/json", "application/x-www-form-urlencoded", "application/ld+json; x=1", "text/plain"];
const tokens = ["{", "}", "[", "]", '"', ":", ",", "\\", "\\u00e9", "\\ud83d\\ude00", "\\ud800", "\\/", "e", "E-", ".", "-",
  "0", "1", "9", "1e400", "123456789012345", "1234567890123456", "-0", "true", "null", " ", "\n", "\t", "=", "&", "+", "%",
  "%41", "%zz", "%C3%A9", "%FF", "é", "😀", "\uff61", "\u2028", "?", "\u0000", "\u007f"];

function mutate(s) {
  const chars = [...s];
  for (let n = 1 + rand(4); n > 0; n--) {
    const at = rand(chars.length + 1);
    switch (rand(4)) {
      case 0: chars.splice(at, 0, pick(tokens)); break;
      case 1: chars.splice(at, 1 + rand(3)); break;
      case 2: chars.splice(at, 0, ...chars.slice(rand(chars.length + 1), rand(chars.length + 1))); break;
      default: if (chars.length) chars[rand(chars.length)] = pick(tokens);
    }
  }
  return chars.join("").toWellFormed();
}

const count = Number(casesArg);
const cases = [];
for (let i = 0; i < count; i++) {
  cases.push({ contentType: pick(types), body: rand(8) === 0 ? pick(seeds) : mutate(pick(seeds)) });
}
// Text-only FormData, serialized by the runtime's own multipart encoder
// (names without line breaks: Node's encoder escapes them without first
// making them CRLF, as browsers do).
const pieces = ["a", "b", "tag", "é", "😀", "\uff61", '"', "%22", " ", "\n", "\r\n", "\r", "--", "x".repeat(20), ""];
const formCases = Math.ceil(count / 10);
const forms = [];
for (let i = 0; i < formCases; i++) {
  const form = new FormData();
  for (let n = rand(5); n > 0; n--) {
    const name = Array.from({ length: 1 + rand(3) }, () => pick(pieces)).join("").replace(/[\r\n]/g, "_");
    form.append(name, Array.from({ length: rand(4) }, () => pick(pieces)).join(""));
  }
  const response = new Response(form);
  const body = await response.text();
  cases.push({ contentType: response.headers.get("content-type"), body });
  forms.push(form);
}
const run = spawnSync(command[0], command.slice(1), { input: cases.map((c) => JSON.stringify(c)).join("\n") + "\n", maxBuffer: 1 << 30 });
if (run.status !== 0) {
  console.error(`${command.join(" ")} failed: ${run.stderr}`);
  process.exit(1);
}
const answers = run.stdout.toString().trimEnd().split("\n").map((l) => JSON.parse(l));
let failures = 0;
cases.forEach((c, i) => {
  const js = i >= count ? canonicalPayload(forms[i - count]) : canonicalPayload(c.body, c.contentType);
  const rust = answers[i];
  if (!rust || js.form !== rust.form || js.text !== rust.text) {
    if (++failures <= 10) {
      console.error(`differs: ${JSON.stringify(c)}\n  js:   ${JSON.stringify(js)}\n  rust: ${JSON.stringify(rust)}`);
    }
  }
});
const byForm = answers.reduce((m, a) => ((m[a?.form] = (m[a?.form] ?? 0) + 1), m), {});
console.log(`differential: ${count} bodies and ${formCases} FormData (seed ${seedArg}), ${failures} differ; forms ${JSON.stringify(byForm)}`);
process.exit(failures ? 1 : 0);
