import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { test } from "node:test";
import { buildExtension } from "../scripts/build.mjs";
import { storeEntries, zip } from "../scripts/package.mjs";

const outdir = await buildExtension({ outdir: mkdtempSync(join(tmpdir(), "tc-ext-")) });
const manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8"));

test("the least permissions, a strict policy, every file the manifest names", () => {
  assert.equal(manifest.manifest_version, 3);
  assert.deepEqual(manifest.permissions.sort(), ["activeTab", "alarms", "offscreen", "scripting", "storage", "tabCapture"]);
  assert.equal(manifest.host_permissions, undefined);
  assert.deepEqual(manifest.optional_host_permissions, ["<all_urls>"]);
  const policy = manifest.content_security_policy.extension_pages;
  assert.match(policy, /script-src 'self';/);
  assert.doesNotMatch(policy, /unsafe-eval|unsafe-inline|https?:\/\/[^\s;]*\.[a-z]/);
  const named = [manifest.background.service_worker, manifest.action.default_popup, manifest.options_page, ...Object.values(manifest.icons)];
  const present = new Set(readdirSync(outdir, { recursive: true }));
  for (const file of named) assert.ok(present.has(file), file);
  for (const size of [16, 32, 48, 128]) assert.ok(present.has(`icons/icon-${size}.png`));
});

test("no remote code: no eval, no script loaded from the network", () => {
  for (const name of readdirSync(outdir).filter((f) => f.endsWith(".js") || f.endsWith(".html"))) {
    const text = readFileSync(join(outdir, name), "utf8");
    assert.doesNotMatch(text, /\beval\(|new Function\(/, name);
    assert.doesNotMatch(text, /<script[^>]+src="https?:/, name);
    assert.doesNotMatch(text, /import\(["']https?:/, name);
  }
});

test("the store zip: no development key, under 500 KB without the icons, unzips to the files", () => {
  const entries = storeEntries(outdir);
  const stored = JSON.parse(entries.find((e) => e.name === "manifest.json").data);
  assert.equal(stored.key, undefined);
  const withoutIcons = zip(entries.filter((e) => !e.name.startsWith("icons/")));
  assert.ok(withoutIcons.length < 500 * 1024, `${withoutIcons.length} bytes`);
  // The first entry reads back as it went in.
  const archive = zip(entries.slice(0, 1));
  const nameLength = archive.readUInt16LE(26);
  const packedLength = archive.readUInt32LE(18);
  const data = inflateRawSync(archive.subarray(30 + nameLength, 30 + nameLength + packedLength));
  assert.deepEqual(data, entries[0].data);
});
