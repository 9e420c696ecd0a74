// The project's guest image and firmware as files (built by scripts/build-guest.sh and
// scripts/setup.sh), for the Node end-to-end tests, the benchmarks and the scripts.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const DISK_IMAGE = join(ROOT, "public/guest/disk.img");
export const BIOS = join(ROOT, "public/bios/bios-256k.bin");
export const VGA_BIOS = join(ROOT, "public/bios/vgabios-stdvga.bin");

const imageCache = new Map<string, Buffer>();

/** The image's bytes (the file is read once per process; not copied unless bytes are appended). */
export function loadDisk(path = DISK_IMAGE, appendBytes = 0): Uint8Array {
  if (!existsSync(path)) throw new Error(`${path} is missing: build the guest with "bash scripts/build-guest.sh"`);
  let b = imageCache.get(path);
  if (!b) {
    b = readFileSync(path);
    imageCache.set(path, b);
  }
  if (appendBytes <= 0) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  const out = new Uint8Array(b.byteLength + appendBytes);
  out.set(b);
  return out;
}
