// What every boot of the page starts from: SeaBIOS's files (fetched once, with progress) and a
// fresh screen container for v86.

import { ui } from "./elements.ts";
import { BIOS_URLS, takeEarly } from "./early-files.ts";
import { fetchWithProgress } from "./loader.ts";

let biosFiles: Promise<[ArrayBuffer, ArrayBuffer]> | undefined;

const fetchBios = (): Promise<[ArrayBuffer, ArrayBuffer]> => Promise.all([fetchWithProgress(BIOS_URLS[0]), fetchWithProgress(BIOS_URLS[1])]);

/** SeaBIOS and its VGA BIOS, fetched once (again after a failure; index.html's script starts them). */
export function loadBios(): Promise<[ArrayBuffer, ArrayBuffer]> {
  biosFiles ??= takeEarly("bios")?.catch(fetchBios) ?? fetchBios();
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
