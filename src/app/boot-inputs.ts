// What every boot of the page starts from: SeaBIOS's files (fetched once, with progress) and a
// fresh screen container for v86.

import { ui } from "./elements.ts";
import { fetchWithProgress } from "./loader.ts";

const BIOS = "/bios/bios-256k.bin";
const VGA_BIOS = "/bios/vgabios-stdvga.bin";

let biosFiles: Promise<[ArrayBuffer, ArrayBuffer]> | undefined;

/** SeaBIOS and its VGA BIOS, fetched once (again after a failure). */
export function loadBios(): Promise<[ArrayBuffer, ArrayBuffer]> {
  biosFiles ??= Promise.all([fetchWithProgress(BIOS), fetchWithProgress(VGA_BIOS)]);
  biosFiles.catch(() => (biosFiles = undefined));
  return biosFiles;
}

/** A fresh screen container: v86 wants a text div and a canvas in it. */
export function freshScreen(): HTMLElement {
  const text = document.createElement("div");
  text.className = "screen-text";
  const canvas = document.createElement("canvas");
  canvas.className = "screen-canvas";
  canvas.style.display = "none";
  ui.screen.replaceChildren(text, canvas);
  return ui.screen;
}
