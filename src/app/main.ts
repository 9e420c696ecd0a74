// The demo page: loads the BIOS and a disk image with progress, boots v86 from the NVMe
// controller, and wires the VGA screen, the serial console and the counters panel.
// Tests drive it through window.nvmeDemo.

import type { V86 } from "v86";
import type { NvmeV86 } from "../v86/attach.ts";
import { SerialConsole } from "./console.ts";
import { fetchWithProgress, formatBytes, readFileWithProgress, type Progress } from "./loader.ts";
import { startMachine, stopMachine } from "./machine.ts";
import { StatsPanel, type Counters } from "./stats.ts";
import "./app.css";

export type DemoState = "loading" | "booting" | "running" | "error";

export interface NvmeDemo {
  emulator: V86 | undefined;
  nvme: NvmeV86 | undefined;
  state: DemoState;
  error?: string;
  /** Name of the booted image. */
  image: string;
  serialText(): string;
  send(text: string): void;
  counters(): Counters;
}

declare global {
  interface Window {
    nvmeDemo: NvmeDemo;
  }
}

const DEFAULT_IMAGE = "/guest/disk.img";
const BIOS = "/bios/bios-256k.bin";
const VGA_BIOS = "/bios/vgabios-stdvga.bin";
const READY_MARKER = "V86NVME-ROOT-READY";

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page: no #${id}`);
  return e as T;
}

const ui = {
  status: $("status"),
  led: $("disk-led"),
  imageName: $("image-name"),
  progress: $("progress"),
  progressBar: $<HTMLProgressElement>("progress-bar"),
  progressText: $("progress-text"),
  error: $("error"),
  errorText: $("error-text"),
  screen: $("screen"),
  picker: $<HTMLInputElement>("image-file"),
  bootDefault: $<HTMLButtonElement>("boot-default"),
  retry: $<HTMLButtonElement>("retry"),
};

const serial = new SerialConsole({
  output: $("serial-output"),
  input: $<HTMLInputElement>("serial-input"),
  form: $<HTMLFormElement>("serial-form"),
  interrupt: $<HTMLButtonElement>("serial-ctrlc"),
});

function allCounters(): Counters {
  const n = demo.nvme;
  return n ? { ...n.counters, ...n.controller.counters } : {};
}

const stats = new StatsPanel($("stats"), () => (demo.nvme ? allCounters() : undefined), ui.led);

const demo: NvmeDemo = {
  emulator: undefined,
  nvme: undefined,
  state: "loading",
  image: "disk.img",
  serialText: () => serial.raw,
  send: (text) => serial.send(text),
  counters: allCounters,
};
window.nvmeDemo = demo;

function setState(state: DemoState, detail = ""): void {
  demo.state = state;
  document.body.dataset.state = state;
  ui.status.textContent = detail ? `${state}: ${detail}` : state;
  ui.status.className = `status ${state}`;
}

function fail(e: unknown): void {
  const text = e instanceof Error ? (e.stack && e.stack.includes(e.message) ? e.stack : `${e.message}\n${e.stack ?? ""}`) : String(e);
  if (demo.state === "error") return; // the first error is the one that explains
  demo.error = text;
  setState("error", e instanceof Error ? e.message : String(e));
  ui.errorText.textContent = text;
  ui.error.hidden = false;
  serial.connect(undefined);
  stats.stop();
  ui.led.classList.remove("on");
}

function showProgress(label: string, p: Progress): void {
  ui.progress.hidden = false;
  if (p.total > 0) {
    ui.progressBar.max = p.total;
    ui.progressBar.value = p.loaded;
    ui.progressText.textContent = `${label}: ${formatBytes(p.loaded)} of ${formatBytes(p.total)} (${Math.floor((100 * p.loaded) / p.total)} %)`;
  } else {
    ui.progressBar.removeAttribute("value"); // indeterminate
    ui.progressText.textContent = `${label}: ${formatBytes(p.loaded)}`;
  }
}

/** A fresh screen container: v86 wants a text div and a canvas in it. */
function freshScreen(): HTMLElement {
  const text = document.createElement("div");
  text.className = "screen-text";
  const canvas = document.createElement("canvas");
  canvas.className = "screen-canvas";
  canvas.style.display = "none";
  ui.screen.replaceChildren(text, canvas);
  return ui.screen;
}

let generation = 0;
let lastSource: ImageSource | undefined;

type ImageSource = { kind: "url"; url: string; name: string } | { kind: "file"; file: File };

async function boot(source: ImageSource): Promise<void> {
  const gen = ++generation;
  lastSource = source;
  const stale = (): boolean => gen !== generation;
  const old = demo.emulator;
  demo.emulator = undefined;
  demo.nvme = undefined;
  demo.error = undefined;
  stats.stop();
  serial.connect(undefined);
  setState("loading");
  if (old) await stopMachine(old).catch((e) => console.warn("stopping the old emulator:", e));
  if (stale()) return;
  ui.error.hidden = true;
  serial.clear();
  stats.reset();
  demo.image = source.kind === "url" ? source.name : source.file.name;
  ui.imageName.textContent = demo.image;
  try {
    const [bios, vgaBios] = await Promise.all([
      fetchWithProgress(BIOS, (p) => showProgress("SeaBIOS", p)),
      fetchWithProgress(VGA_BIOS),
    ]);
    const image =
      source.kind === "url"
        ? await fetchWithProgress(source.url, (p) => showProgress(source.name, p))
        : await readFileWithProgress(source.file, (p) => showProgress(source.file.name, p));
    if (stale()) return;
    ui.progress.hidden = true;
    setState("booting", `${demo.image}, ${formatBytes(image.byteLength)} on NVMe`);
    let line = "";
    const emulator = startMachine(
      { bios, vgaBios, image, screen: freshScreen() },
      {
        serialByte(b) {
          if (stale()) return;
          serial.byte(b);
          if (demo.state !== "booting") return;
          if (b === 10) line = "";
          else if (line.length < 200) line += String.fromCharCode(b);
          if (line.startsWith(READY_MARKER)) setState("running", line.trim());
        },
        diskActivity: () => stats.activity(),
        attached(nvme) {
          if (stale()) return;
          demo.nvme = nvme;
          serial.connect((text) => emulator.serial0_send(text));
          stats.start();
          // A foreign image prints no marker: it counts as running once the CPU starts.
          if (source.kind === "file") setState("running", demo.image);
        },
        failed: (e) => stale() || fail(e),
        log(level, msg) {
          if (level === "error") console.error(msg);
          else if (level === "warn") console.warn(msg);
          else console.info(msg);
        },
      },
    );
    demo.emulator = emulator;
    // A guest reboot (the adapter counts them) starts the boot over: booting until the marker.
    let reboots = 0;
    const watch = setInterval(() => {
      if (stale()) return clearInterval(watch);
      const r = demo.nvme?.counters.reboots ?? 0;
      if (r === reboots) return;
      reboots = r;
      line = "";
      if (demo.state === "running" && source.kind === "url") setState("booting", "the guest rebooted");
    }, 500);
    emulator.add_listener("emulator-stopped", () => {
      if (!stale() && demo.emulator === emulator && demo.state !== "error") fail(new Error("the emulator stopped"));
    });
  } catch (e) {
    if (!stale()) fail(e);
  }
}

// v86 runs its main loop from timer callbacks: an exception there ends the loop and surfaces
// only as an uncaught error. Show it instead of a frozen screen.
window.addEventListener("error", (ev) => {
  if (demo.emulator && demo.state !== "loading") fail(ev.error ?? new Error(ev.message));
});
window.addEventListener("unhandledrejection", (ev) => {
  if (demo.emulator && demo.state !== "loading") fail(ev.reason);
});

ui.picker.addEventListener("change", () => {
  const file = ui.picker.files?.[0];
  ui.picker.value = "";
  if (file) void boot({ kind: "file", file });
});
const defaultImage: ImageSource = { kind: "url", url: DEFAULT_IMAGE, name: "disk.img" };
ui.bootDefault.addEventListener("click", () => void boot(defaultImage));
ui.retry.addEventListener("click", () => void boot(lastSource ?? defaultImage));

void boot(defaultImage);
