// npm run package -> ticketcreator-extension-<version>.zip for the Chrome Web Store, from dist/.
// The store assigns the extension's key, so the development `key` is left out of the manifest.
// Prints the zip's size and the size without the icons (the bundle budget is 500 KB).
import { crc32, deflateRawSync } from "node:zlib";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");

function files(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

// A zip archive (deflate) of `entries`: [{name, data}].
export function zip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name);
    const packed = deflateRawSync(data, { level: 9 });
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt32LE(0x00210000, 10); // 1980-01-01 00:00, reproducible
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(0x00210000, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, packed);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

export function storeEntries(dir = dist) {
  return files(dir).map((path) => {
    const name = relative(dir, path);
    let data = readFileSync(path);
    if (name === "manifest.json") {
      const { key: _developmentKey, ...manifest } = JSON.parse(data);
      data = Buffer.from(JSON.stringify(manifest, null, 2));
    }
    return { name, data };
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const entries = storeEntries();
  const { version } = JSON.parse(readFileSync(join(dist, "manifest.json")));
  const out = join(root, `ticketcreator-extension-${version}.zip`);
  const archive = zip(entries);
  writeFileSync(out, archive);
  const withoutIcons = zip(entries.filter((e) => !e.name.startsWith("icons/")));
  console.log(`${out}: ${archive.length} bytes; without icons ${withoutIcons.length} bytes (${(withoutIcons.length / 1024).toFixed(1)} KB)`);
}
