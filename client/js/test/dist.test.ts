// dist/broker.js is committed (the coordinator's demo embeds it, and go
// build must not need node; it links to internal/webdemo/static/broker.js,
// the one copy): it must be what the sources build to.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { build } from "esbuild";

test("dist/broker.js is up to date with src/ (run npm run build)", async () => {
  const root = new URL("../../", import.meta.url); // tests run from build/test/
  const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
  const args: string[] = pkg.scripts.build.split(" && ")[0].split(" ");
  assert.deepEqual(args.slice(0, 2), ["esbuild", "src/index.ts"], "the build script changed: update this test");
  const out = await build({
    absWorkingDir: new URL(".", root).pathname,
    entryPoints: ["src/index.ts"],
    bundle: true,
    format: "esm",
    target: "es2022",
    outfile: "dist/broker.js",
    write: false,
    logLevel: "silent",
  });
  assert.deepEqual(args.slice(2), ["--bundle", "--format=esm", "--target=es2022", "--outfile=dist/broker.js"]);
  const committed = readFileSync(new URL("dist/broker.js", root), "utf8");
  assert.ok(committed === out.outputFiles[0].text, "dist/broker.js differs from a fresh build: run npm run build and commit it");
});
