// The README's examples that use the package, for tests/e2e/types.test.mjs
// to compile: every ```js, ```jsx, ```ts and ```tsx block, and the module
// scripts (`<script type="module">`) of ```html blocks, wherever they are in
// the README. A block right after `<!-- not type-checked: reason -->` (a
// signature listing, say) is left out; the reason must be given.

const FENCE = /^```([\w,-]*)[ \t]*$/;
const SKIP = /^<!--\s*not type-checked:\s*(\S[^]*?)\s*-->$/;
const MODULE_SCRIPT = /<script type="module">\n([^]*?)<\/script>/g;

/**
 * `[{ line, lang, code }]`: `line` is the README line (1-based) just before
 * the code's first line; `lang` is "js", "ts" or "tsx" ("jsx" is compiled as
 * "tsx", an html module script as "js").
 */
export function readmeExamples(readme) {
  const lines = readme.split("\n");
  const examples = [];
  let previous = "";
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i].match(FENCE);
    if (!open) {
      if (lines[i].trim()) previous = lines[i].trim();
      continue;
    }
    let end = i + 1;
    while (end < lines.length && !lines[end].startsWith("```")) end++;
    if (end === lines.length) throw new Error(`README.md:${i + 1}: a code block that is never closed`);
    const lang = open[1];
    const body = lines.slice(i + 1, end);
    const skipped = previous.match(SKIP);
    if (previous.startsWith("<!--") && previous.includes("type-checked") && !skipped) {
      throw new Error(`README.md:${i}: write the marker as <!-- not type-checked: reason -->`);
    }
    if (!skipped) {
      if (["js", "ts", "tsx"].includes(lang)) examples.push({ line: i + 1, lang, code: body.join("\n") + "\n" });
      if (lang === "jsx") examples.push({ line: i + 1, lang: "tsx", code: body.join("\n") + "\n" });
      if (lang === "html") {
        const html = body.join("\n");
        for (const script of html.matchAll(MODULE_SCRIPT)) {
          const before = html.slice(0, script.index).split("\n").length;
          examples.push({ line: i + 1 + before, lang: "js", code: script[1] });
        }
      }
    }
    previous = "```";
    i = end;
  }
  return examples;
}
