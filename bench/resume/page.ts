// The resume benchmark's page for v86's own way (bench/resume/page.html, built with the demo page
// and served by nginx): the guest on v86's async IDE disk (`hda: { url, async: true, size }`),
// booted cold from SeaBIOS, or resumed from v86's own state (`initial_state: { url }`, the
// copy.sh way), its screen drawn as copy.sh draws it (text mode in a div, graphics on a canvas).
// What it is asked comes in the URL's query, so that the boot starts as the page loads, as the
// demo page's does: ?image=URL&size=BYTES&memory=BYTES[&state=URL][&save=1].
// window.resumeBench.result resolves at the shell prompt, times in ms since the page opened (the
// prompt's: when its last byte came out of the serial port, as the demo page times its own);
// with save=1, window.resumeBench.save() returns v86's state (raw) as a download.

import { V86 } from "v86";
import v86WasmUrl from "v86/build/v86.wasm?url";
import type { V86Result } from "./plan.ts";

const PROMPT = "guest# ";
const ROOT_READY = "V86NVME-ROOT-READY";
const INITRAMFS_SHELL = "V86NVME-INITRAMFS-SHELL";

const q = new URLSearchParams(location.search);
const need = (k: string): string => q.get(k) ?? fail(`page.html needs ?${k}=`);
function fail(msg: string): never {
  throw new Error(msg);
}

const emulator = new V86({
  wasm_path: v86WasmUrl,
  bios: { url: "/bios/bios-256k.bin" },
  vga_bios: { url: "/bios/vgabios-stdvga.bin" },
  memory_size: Number(need("memory")),
  hda: { url: need("image"), async: true, size: Number(need("size")) },
  ...(q.get("state") ? { initial_state: { url: q.get("state") } } : {}),
  screen_container: document.getElementById("screen_container"),
  autostart: false,
  disable_mouse: true,
  disable_speaker: true,
} as never);

let text = "";
const utf8 = new TextDecoder();
const one = new Uint8Array(1);
const resumed = q.has("state");
/** Output from here on is watched (set when the machine runs); the prompt's time is taken as its last byte comes out. */
let watchFrom = -1;
let settle: ((r: V86Result) => void) | undefined;
let fault: ((e: Error) => void) | undefined;
let loadedMs = 0;

function watch(): void {
  if (text.includes(INITRAMFS_SHELL, watchFrom)) {
    watchFrom = -1;
    fault?.(new Error(`the initramfs could not mount the root file system\n${text.slice(-1500)}`));
    return;
  }
  const ready = resumed ? watchFrom : text.indexOf(ROOT_READY, watchFrom);
  if (ready >= 0 && text.indexOf(PROMPT, ready) >= 0) {
    watchFrom = -1;
    settle?.({ promptMs: performance.now(), loadedMs, resumed });
  }
}

emulator.add_listener("serial0-output-byte", (b: number) => {
  one[0] = b;
  text += utf8.decode(one, { stream: true });
  // The prompt ends in a space, the initramfs's marker line in a newline.
  if (watchFrom >= 0 && (b === 0x20 || b === 0x0a)) watch();
});

const result = new Promise<V86Result>((resolve, reject) => {
  settle = resolve;
  fault = reject;
  emulator.add_listener("emulator-loaded", () => {
    loadedMs = performance.now();
    void Promise.resolve(emulator.run()).then(() => {
      // A resumed guest answers a newline with its prompt (as the demo page asks it).
      watchFrom = text.length;
      if (resumed) emulator.serial0_send("\n");
    }, reject);
  });
});

async function save(): Promise<void> {
  await emulator.stop();
  const state = (await emulator.save_state()) as ArrayBuffer;
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([state]));
  a.download = "v86.state";
  document.body.append(a);
  a.click();
}

declare global {
  interface Window {
    resumeBench?: { result: Promise<V86Result>; save(): Promise<void>; tail(): string };
  }
}
window.resumeBench = { result, save, tail: () => text.slice(-1500) };
