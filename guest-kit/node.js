// v86-nvme-guest/node: the kit's files as absolute paths, for bootGuest() of v86-nvme/node and
// the Playwright fixture, and its manifest.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export { manifest } from "./files/manifest.js";

const path = (name) => fileURLToPath(new URL(`./files/${name}`, import.meta.url));
const state = path("disk.img.state.zst");

export const files = {
  image: path("disk.img"),
  bios: path("bios-256k.bin"),
  vgaBios: path("vgabios-stdvga.bin"),
  ...(existsSync(state) ? { state } : {}),
  bootTrace: path("disk.img.boot-trace.json"),
  manifest: path("manifest.json"),
};
