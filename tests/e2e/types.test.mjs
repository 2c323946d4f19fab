// The package's TypeScript types as a user's project sees them: `tsc
// --strict` compiles tests/types/usage.ts in a scratch project whose
// node_modules/submit-guard links to pkg/, so the imports resolve through
// pkg/package.json's `exports` map as they would after `npm install`. The
// file uses the documented API and marks misuse with `@ts-expect-error`, so
// the compile fails if a type is wrong, missing or too loose.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ROOT } from "./harness.mjs";

// The package's `bin` entry (its exports map lists only its API).
const TYPESCRIPT = dirname(createRequire(import.meta.url).resolve("typescript/package.json"));
const TSC = join(TYPESCRIPT, "bin/tsc");

test("the package's types accept the documented API and refuse misuse (tsc --strict)", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "submit-guard-types-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(join(ROOT, "pkg"), join(dir, "node_modules/submit-guard"), "dir");
  copyFileSync(join(ROOT, "tests/types/usage.ts"), join(dir, "usage.ts"));
  const compilerOptions = {
    strict: true,
    noEmit: true,
    noUnusedLocals: false,
    target: "es2022",
    module: "esnext",
    moduleResolution: "bundler",
    lib: ["es2022", "dom", "dom.iterable"],
    types: [],
  };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["usage.ts"] }));
  const tsc = spawnSync(process.execPath, [TSC, "-p", dir], { encoding: "utf8" });
  assert.equal(tsc.status, 0, `tsc found errors:\n${tsc.stdout}${tsc.stderr}`);
});
