// The extension id Chrome derives from the manifest's public `key`: the first 32 hex digits of
// its SHA-256, written with the letters a-p.
//   node scripts/extension-id.mjs   -> prints the id
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export function extensionId(base64Key) {
  const hex = createHash("sha256").update(Buffer.from(base64Key, "base64")).digest("hex").slice(0, 32);
  return [...hex].map((digit) => String.fromCharCode(97 + parseInt(digit, 16))).join("");
}

export function manifestId(path = new URL("../static/manifest.json", import.meta.url)) {
  return extensionId(JSON.parse(readFileSync(path, "utf8")).key);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(manifestId());
