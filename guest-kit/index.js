// v86-nvme-guest: the kit's files as URLs beside this module (the form bundlers copy into their
// output), and its manifest.
export { manifest } from "./files/manifest.js";

export const urls = {
  image: new URL("./files/disk.img", import.meta.url),
  bios: new URL("./files/bios-256k.bin", import.meta.url),
  vgaBios: new URL("./files/vgabios-stdvga.bin", import.meta.url),
  state: new URL("./files/disk.img.state.zst", import.meta.url),
  bootTrace: new URL("./files/disk.img.boot-trace.json", import.meta.url),
};
