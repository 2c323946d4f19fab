// Runs the shared table payload.json (also run against crates/protocol)
// against the browser client's js/canonical.js. Multipart bodies are parsed
// into a FormData first, as the client holds them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { canonicalPayload, samePayload } from "../../js/canonical.js";

const vectors = JSON.parse(readFileSync(new URL("./payload.json", import.meta.url), "utf8"));

async function asClientBody(body, contentType) {
  if (contentType != null && /^multipart\/form-data/i.test(contentType)) {
    return new Response(body, { headers: { "content-type": contentType } }).formData();
  }
  return body;
}

test("the table has cases of every kind", () => {
  const forms = new Set(vectors.map((v) => v.form).filter(Boolean));
  assert.deepEqual([...forms].sort(), ["json", "multipart", "raw", "urlencoded"]);
  assert.ok(vectors.some((v) => v.same) && vectors.some((v) => !v.same));
});

for (const v of vectors) {
  test(v.name, { skip: v.clientSkip }, async () => {
    const typeA = v.contentType;
    const typeB = v.contentTypeB ?? typeA;
    const a = canonicalPayload(await asClientBody(v.a, typeA), typeA);
    const b = canonicalPayload(await asClientBody(v.b, typeB), typeB);
    const expected = v.client ?? v.same;
    assert.equal(samePayload(a, b), expected, `a: ${JSON.stringify(a)}\nb: ${JSON.stringify(b)}`);
    if (v.form) assert.equal(a.form, v.form);
    if (v.canonical !== undefined) assert.equal(a.text, v.canonical);
  });
}

test("URLSearchParams and FormData bodies need no content type", () => {
  const params = canonicalPayload(new URLSearchParams("b=2&a=1"));
  assert.deepEqual(params, { form: "urlencoded", text: "a=1&b=2" });
  const form = new FormData();
  form.append("b", "2");
  form.append("a", "line\none");
  form.append("f", new Blob(["abc"], { type: "Text/Plain" }), "x.txt");
  assert.deepEqual(canonicalPayload(form), {
    form: "multipart",
    text: "t1:a9:line\r\nonet1:b1:2f1:f5:x.txt10:text/plainsize:3",
  });
  assert.deepEqual(canonicalPayload(undefined), { form: "raw", text: "" });
});

test("bytes are read as UTF-8 text; what cannot be read synchronously is left to the caller", () => {
  const json = new TextEncoder().encode('{"b":1,"a":2}');
  assert.deepEqual(canonicalPayload(json, "application/json"), { form: "json", text: '{"a":2,"b":1}' });
  assert.deepEqual(canonicalPayload(json.buffer, "application/json"), { form: "json", text: '{"a":2,"b":1}' });
  assert.deepEqual(canonicalPayload(new DataView(json.buffer, 1, 4), "text/plain"), { form: "raw", text: '"b":' });
  assert.equal(canonicalPayload(new Uint8Array([0xff]), "application/json"), null);
  assert.equal(canonicalPayload(new Blob(["{}"]), "application/json"), null);
  assert.equal(canonicalPayload(new ReadableStream(), "application/json"), null);
  assert.equal(canonicalPayload({ toString: () => "{}" }, "application/json"), null);
});

test("names are compared in the form a browser sends them", () => {
  const a = new FormData();
  a.append('say "hi"\n', "x");
  const b = new FormData();
  b.append("say %22hi%22\r\n", "x");
  assert.ok(samePayload(canonicalPayload(a), canonicalPayload(b)));
});
