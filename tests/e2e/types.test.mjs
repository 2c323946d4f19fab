// The package's TypeScript types as a user's project sees them: `tsc`
// compiles in a scratch project whose node_modules/submit-guard links to
// pkg/, so the imports resolve through pkg/package.json's `exports` map as
// they would after `npm install`.
//
// - tests/types/usage.ts uses the documented API and marks misuse with
//   `@ts-expect-error`, so the compile fails if a type is wrong, missing or
//   too loose (`tsc --strict`).
// - The README's examples (tests/types/readme.mjs picks them out) are
//   compiled as a user pastes them into a fresh `npm create vite` react-ts
//   app: its compiler options (strict, noUnusedLocals, noUnusedParameters,
//   verbatimModuleSyntax, `jsx: react-jsx`) and @types/react. A ```js
//   example is compiled as TypeScript too (a TypeScript user pastes it into a
//   .ts file) and must also parse as plain JavaScript (`node --check`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ROOT } from "./harness.mjs";
import { readmeExamples } from "../types/readme.mjs";

const require = createRequire(import.meta.url);
// The package's `bin` entry (its exports map lists only its API).
const TSC = join(dirname(require.resolve("typescript/package.json")), "bin/tsc");
const REACT_TYPES = dirname(require.resolve("@types/react/package.json"));

/** A scratch project with the package (and, if asked, @types/react) installed. */
function project(t, { react = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "submit-guard-types-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "node_modules/@types"), { recursive: true });
  symlinkSync(join(ROOT, "pkg"), join(dir, "node_modules/submit-guard"), "dir");
  if (react) symlinkSync(REACT_TYPES, join(dir, "node_modules/@types/react"), "dir");
  return dir;
}

function tsc(dir, compilerOptions, files) {
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files }));
  return spawnSync(process.execPath, [TSC, "-p", dir], { encoding: "utf8" });
}

test("the package's types accept the documented API and refuse misuse (tsc --strict)", (t) => {
  const dir = project(t);
  copyFileSync(join(ROOT, "tests/types/usage.ts"), join(dir, "usage.ts"));
  const result = tsc(
    dir,
    {
      strict: true,
      noEmit: true,
      noUnusedLocals: false,
      target: "es2022",
      module: "esnext",
      moduleResolution: "bundler",
      lib: ["es2022", "dom", "dom.iterable"],
      types: [],
    },
    ["usage.ts"],
  );
  assert.equal(result.status, 0, `tsc found errors:\n${result.stdout}${result.stderr}`);
});

test("the README's examples compile as pasted into a strict TypeScript React app", (t) => {
  const examples = readmeExamples(readFileSync(join(ROOT, "README.md"), "utf8"));
  // The examples the README is known to have (JS, React, actions, server
  // rendering, attach, crossTab): fewer means the extraction broke, and a
  // test that checks nothing must not pass.
  assert.ok(examples.length >= 8, `found only ${examples.length} README examples to check`);
  const dir = project(t, { react: true });
  const names = new Map();
  for (const example of examples) {
    const name = `readme-${example.line}.${example.lang === "tsx" ? "tsx" : "ts"}`;
    names.set(name, example);
    writeFileSync(join(dir, name), example.code);
    if (example.lang === "js") {
      const plain = join(dir, `readme-${example.line}.mjs`);
      writeFileSync(plain, example.code);
      const check = spawnSync(process.execPath, ["--check", plain], { encoding: "utf8" });
      assert.equal(check.status, 0, `README.md:${example.line}: a \`\`\`js example that is not plain JavaScript:\n${check.stderr}`);
    }
  }
  // What `npm create vite@latest -- --template react-ts` writes in
  // tsconfig.app.json (but `types`, and `skipLibCheck`: our types are checked).
  const result = tsc(
    dir,
    {
      target: "es2022",
      useDefineForClassFields: true,
      lib: ["es2022", "dom", "dom.iterable"],
      module: "esnext",
      types: ["react"],
      moduleResolution: "bundler",
      allowImportingTsExtensions: true,
      verbatimModuleSyntax: true,
      moduleDetection: "force",
      noEmit: true,
      jsx: "react-jsx",
      strict: true,
      noUnusedLocals: true,
      noUnusedParameters: true,
      erasableSyntaxOnly: true,
      noFallthroughCasesInSwitch: true,
      noUncheckedSideEffectImports: true,
    },
    [...names.keys()],
  );
  // Errors point at README lines: `readme-41.ts(3,7)` is README.md line 41 + 3.
  const report = `${result.stdout}${result.stderr}`.replace(/\S*readme-(\d+)\.tsx?\((\d+),(\d+)\)/g, (_, start, line, column) => {
    return `README.md:${Number(start) + Number(line)}:${column}`;
  });
  assert.equal(result.status, 0, `the README's examples do not compile:\n${report}`);
});
