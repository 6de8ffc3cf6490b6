// The files the API serves are the build of sdk/browser/src: a test fails when they are stale.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

import { VERSION } from "../../sdk/browser/src/countersign.js";

const browser = new URL("../../sdk/browser/", import.meta.url);

async function loadBuild() {
  try {
    return await import(new URL("build.mjs", browser));
  } catch (error) {
    throw new Error(`esbuild is not installed: run make sdk-deps (npm ci in sdk/browser). ${error.message}`);
  }
}

test("the served SDK files are the build of the sources (make sdk-build rebuilds them)", async () => {
  const { staleFiles } = await loadBuild();
  assert.deepEqual(await staleFiles(), []);
});

test("the package's version is the one the SDK reports", async () => {
  const { version } = JSON.parse(await readFile(new URL("package.json", browser), "utf8"));
  assert.equal(VERSION, version);
});

test("the TypeScript declarations cover every export and every method of the SDK", async () => {
  const declarations = await readFile(new URL("src/countersign.d.ts", browser), "utf8");
  const entry = await import(new URL("src/index.js", browser));
  for (const name of Object.keys(entry).filter((n) => n !== "default")) {
    assert.match(declarations, new RegExp(`export (const|function|class) ${name}\\b`), `export ${name}`);
  }
  const sdk = entry.createCountersign({});
  const iface = declarations.slice(declarations.indexOf("export interface CountersignSdk"));
  for (const member of Object.keys(sdk)) assert.match(iface.slice(0, iface.indexOf("\n}")), new RegExp(`\\b${member}\\b`), member);
  assert.match(declarations, /export default Countersign;/);
});

test("the package's exports map serves the ES module with its types, and the IIFE", async () => {
  const manifest = JSON.parse(await readFile(new URL("package.json", browser), "utf8"));
  assert.equal(manifest.name, "@countersign/browser");
  assert.deepEqual(manifest.exports["."], { types: "./dist/countersign.d.ts", import: "./dist/countersign.js", default: "./dist/countersign.js" });
  assert.equal(manifest.exports["./iife"], "./dist/countersign.iife.js");
  assert.deepEqual(manifest.files, ["dist/"]);
  assert.equal(manifest.devDependencies.esbuild.match(/^\d+\.\d+\.\d+$/)?.[0], manifest.devDependencies.esbuild, "pinned exactly");
});
