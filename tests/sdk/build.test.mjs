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
