// The demo page: opens the chosen disk (bundled image, image URL, picked file; optionally a
// persistent disk in the browser over it), boots v86 from the NVMe controller, and wires the
// VGA screen, the serial console, the device panel (counters, live charts, run-time switches)
// and export. Tests drive it through window.nvmeDemo.

import type { V86 } from "v86";
import type { DoorbellPolicy } from "../controller/options.ts";
import type { NvmeV86 } from "../v86/attach.ts";
import { SerialConsole } from "./console.ts";
import {
  baseName,
  defaultChoice,
  describeInUse,
  diskUsage,
  loadChoice,
  NeedFileError,
  openChosenDisk,
  persistentName,
  saveChoice,
  type DiskChoice,
  type OpenDisk,
} from "./disk.ts";
import { exportDisk } from "./export.ts";
import { fetchWithProgress, formatBytes } from "./loader.ts";
import { startMachine, stopMachine } from "./machine.ts";
import { ProgressBars } from "./progress.ts";
import { StatsPanel, type Counters } from "./stats.ts";
import "./app.css";

export type DemoState = "loading" | "booting" | "running" | "idle" | "error";

export interface DiskInfo {
  /** Display name of the image. */
  name: string;
  byteLength: number;
  persistent: boolean;
  /** The persistent disk's name in the origin private file system. */
  persistentName?: string;
  /** What the namespace reports as its Volatile Write Cache. */
  volatileWriteCache: boolean;
  /** How the image is read. */
  how: string;
}

export interface NvmeDemo {
  emulator: V86 | undefined;
  nvme: NvmeV86 | undefined;
  state: DemoState;
  error?: string;
  /** Name of the booted image. */
  image: string;
  /** The disk in use. */
  disk: DiskInfo | undefined;
  /** True while an export runs (the guest is paused meanwhile). */
  exporting: boolean;
  /** Boots started since the page loaded. */
  boots: number;
  serialText(): string;
  send(text: string): void;
  counters(): Counters;
  /** The choice the disk controls show now (what "Boot this disk" boots). */
  choice(): DiskChoice;
  /** Where the disk's bytes are now (see disk.ts); undefined while no disk is open. */
  diskUsage(): ReturnType<typeof diskUsage> | undefined;
  /** Labels of the switch markers on the charts, oldest first. */
  marks(): string[];
  /** What the live charts show. */
  charts(): ReturnType<StatsPanel["charts"]["snapshot"]>;
  /** The controller's current shadow doorbell policy and interrupt coalescing. */
  device(): { policy: DoorbellPolicy; coalescing: { threshold: number; time: number } } | undefined;
}

declare global {
  interface Window {
    nvmeDemo: NvmeDemo;
  }
}

const BIOS = "/bios/bios-256k.bin";
const VGA_BIOS = "/bios/vgabios-stdvga.bin";
const READY_MARKER = "V86NVME-ROOT-READY";
const POLICY_KEY = "v86-nvme.doorbellPolicy";
/**
 * Interrupt Coalescing when on: 8 completions (0's based 7) or 2 ms (20 units of 100 µs). The
 * device looks at its interrupt line once per round of work (its timer runs at about 1 kHz), so
 * an aggregation time much under a round's length (say 100 µs) changes nothing there.
 */
const COALESCE_ON = { threshold: 7, time: 20 };

const WORKLOADS: { label: string; cmd: string }[] = (() => {
  const fio = (name: string, args: string) =>
    `fio --name=${name} --filename=/root/fio.dat --size=16M ${args} --ioengine=libaio --direct=1 --time_based --runtime=30 --eta=never`;
  return [
    { label: "4 KiB random read, QD 32", cmd: fio("randread-qd32", "--rw=randread --bs=4k --iodepth=32") },
    { label: "4 KiB random read, QD 1", cmd: fio("randread-qd1", "--rw=randread --bs=4k --iodepth=1") },
    { label: "4 KiB random write, QD 32", cmd: fio("randwrite-qd32", "--rw=randwrite --bs=4k --iodepth=32") },
    { label: "1 MiB sequential read, QD 4", cmd: fio("seqread", "--rw=read --bs=1M --iodepth=4") },
  ];
})();

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
  error: $("error"),
  errorText: $("error-text"),
  screen: $("screen"),
  retry: $<HTMLButtonElement>("retry"),
  // disk controls
  diskForm: $<HTMLFormElement>("disk-form"),
  sourceDefault: $<HTMLInputElement>("source-default"),
  sourceUrl: $<HTMLInputElement>("source-url"),
  sourceFile: $<HTMLInputElement>("source-file"),
  url: $<HTMLInputElement>("image-url"),
  picker: $<HTMLInputElement>("image-file"),
  fileName: $("file-name"),
  readLazy: $<HTMLInputElement>("read-lazy"),
  readDownload: $<HTMLInputElement>("read-download"),
  persistent: $<HTMLInputElement>("disk-persistent"),
  copy: $<HTMLInputElement>("disk-copy"),
  boot: $<HTMLButtonElement>("disk-boot"),
  reset: $<HTMLButtonElement>("disk-reset"),
  export: $<HTMLButtonElement>("disk-export"),
  pending: $("disk-pending"),
  diskSource: $("disk-source-text"),
  diskDurability: $("disk-durability"),
  diskDetail: $("disk-detail"),
  // device switches
  policyAwake: $<HTMLInputElement>("policy-awake"),
  policyEager: $<HTMLInputElement>("policy-eager"),
  coalescingOff: $<HTMLInputElement>("coalescing-off"),
  coalescingOn: $<HTMLInputElement>("coalescing-on"),
  workload: $<HTMLSelectElement>("workload"),
  workloadRun: $<HTMLButtonElement>("workload-run"),
  workloadStop: $<HTMLButtonElement>("workload-stop"),
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

const stats = new StatsPanel(
  { cards: $("stats-cards"), charts: $("stats-charts"), table: $("stats-table") },
  () => (demo.nvme ? allCounters() : undefined),
  ui.led,
);
const progress = new ProgressBars(ui.progress);

/** The disk in use, and the file the user picked (a page cannot keep one across a reload). */
let current: OpenDisk | undefined;
let pickedFile: File | undefined;

const demo: NvmeDemo = {
  emulator: undefined,
  nvme: undefined,
  state: "loading",
  image: "disk.img",
  disk: undefined,
  exporting: false,
  boots: 0,
  serialText: () => serial.raw,
  send: (text) => serial.send(text),
  counters: allCounters,
  choice: () => formChoice(),
  diskUsage: () => (current ? diskUsage(current) : undefined),
  charts: () => stats.charts.snapshot(),
  marks: () => stats.charts.marks.map((m) => m.label),
  device: () => {
    const c = demo.nvme?.controller;
    return c ? { policy: c.doorbellPolicy, coalescing: c.features.effectiveCoalescing() } : undefined;
  },
};
window.nvmeDemo = demo;

/** The status line's detail, kept to restore it after a pause. */
let statusDetail = "";

function setState(state: DemoState, detail = ""): void {
  demo.state = state;
  statusDetail = detail;
  document.body.dataset.state = state;
  ui.status.textContent = detail ? `${state}: ${detail}` : state;
  ui.status.title = ui.status.textContent;
  ui.status.className = `status ${state}`;
  updateControls();
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

// ---- the disk controls ----

function formChoice(): DiskChoice {
  const source = ui.sourceUrl.checked ? "url" : ui.sourceFile.checked ? "file" : "default";
  const f = pickedFile ?? remembered.file;
  return {
    source,
    url: ui.url.value.trim(),
    read: ui.readDownload.checked ? "download" : "lazy",
    persistent: ui.persistent.checked,
    copy: ui.persistent.checked && ui.copy.checked,
    file: f ? { name: f.name, size: f.size, lastModified: f.lastModified } : undefined,
  };
}

function showChoice(c: DiskChoice): void {
  ui.sourceDefault.checked = c.source === "default";
  ui.sourceUrl.checked = c.source === "url";
  ui.sourceFile.checked = c.source === "file";
  ui.url.value = c.url;
  ui.readLazy.checked = c.read === "lazy";
  ui.readDownload.checked = c.read === "download";
  ui.persistent.checked = c.persistent;
  ui.copy.checked = c.copy;
  if (c.file) ui.fileName.textContent = c.file.name;
}

const sameChoice = (a: DiskChoice, b: DiskChoice): boolean =>
  a.source === b.source &&
  (a.source !== "url" || a.url === b.url) &&
  (a.source === "file" || a.read === b.read) &&
  (a.source !== "file" || a.file?.name === b.file?.name && a.file?.size === b.file?.size && a.file?.lastModified === b.file?.lastModified) &&
  a.persistent === b.persistent &&
  a.copy === b.copy;

let bootError = "";

function updateControls(): void {
  const c = formChoice();
  const busy = demo.exporting;
  ui.copy.disabled = !c.persistent;
  ui.readLazy.disabled = ui.readDownload.disabled = c.source === "file";
  ui.sourceFile.disabled = !pickedFile && !remembered.file;
  ui.boot.disabled = busy || (c.source === "url" && !c.url) || (c.source === "file" && !pickedFile && !c.persistent);
  ui.reset.disabled = busy || !c.persistent;
  ui.export.disabled = busy || !current || demo.state === "loading";
  let hint = "";
  if (bootError) hint = bootError;
  else if (current && !sameChoice(c, current.choice)) hint = "Changed: the new settings take effect when you press “Boot this disk”.";
  else if (!current && demo.state !== "loading" && demo.state !== "booting") hint = "Choose a disk and press “Boot this disk”.";
  ui.pending.textContent = hint;
  ui.pending.hidden = !hint;
  ui.pending.classList.toggle("warn", !!bootError);
  const running = demo.state === "running" || demo.state === "booting";
  const device = !!demo.nvme && running && !busy;
  for (const e of [ui.policyAwake, ui.policyEager, ui.coalescingOff, ui.coalescingOn]) e.disabled = !device;
  ui.workloadRun.disabled = ui.workloadStop.disabled = !(demo.nvme && demo.state === "running" && !busy);
}

function showDiskInfo(): void {
  if (!current) {
    ui.diskSource.textContent = ui.diskDurability.textContent = ui.diskDetail.textContent = "–";
    return;
  }
  const d = describeInUse(current);
  ui.diskSource.textContent = d.source;
  ui.diskDurability.textContent = d.durability;
  ui.diskDurability.classList.toggle("vwc", current.backend.volatileWriteCache);
  ui.diskDetail.textContent = d.detail;
}
setInterval(showDiskInfo, 2000);

/** The remembered choice (its file identity names a persistent disk even before a file is picked). */
let remembered = loadChoice();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let biosFiles: Promise<[ArrayBuffer, ArrayBuffer]> | undefined;
function loadBios(): Promise<[ArrayBuffer, ArrayBuffer]> {
  biosFiles ??= Promise.all([fetchWithProgress(BIOS), fetchWithProgress(VGA_BIOS)]);
  biosFiles.catch(() => (biosFiles = undefined));
  return biosFiles;
}

// ---- booting ----

let generation = 0;
let lastChoice: DiskChoice = remembered;
/** Set while the page itself stops the emulator (export pauses it). */
let pausing = false;

async function boot(choice: DiskChoice, o: { reset?: boolean } = {}): Promise<void> {
  const gen = ++generation;
  demo.boots++;
  lastChoice = choice;
  bootError = "";
  const stale = (): boolean => gen !== generation;
  const oldEmulator = demo.emulator;
  const oldDisk = current;
  demo.emulator = undefined;
  demo.nvme = undefined;
  demo.error = undefined;
  demo.disk = undefined;
  current = undefined;
  stats.stop();
  serial.connect(undefined);
  setState("loading", "stopping the previous machine");
  progress.done("copy");
  progress.done("download");
  if (oldEmulator) await stopMachine(oldEmulator).catch((e) => console.warn("stopping the old emulator:", e));
  // The persistent disk's files are exclusive: the old disk must let go before it is opened again.
  if (oldDisk) await Promise.race([oldDisk.close().catch((e) => console.warn("closing the old disk:", e)), sleep(5000)]);
  if (stale()) return;
  ui.error.hidden = true;
  serial.clear();
  freshScreen(); // the last machine's screen goes with it
  stats.reset();
  showDiskInfo();
  demo.image = baseName(choice);
  ui.imageName.textContent = demo.image + (choice.persistent ? " (persistent)" : "");
  let disk: OpenDisk | undefined;
  try {
    setState("loading", "SeaBIOS");
    const [bios, vgaBios] = await loadBios();
    if (stale()) return;
    disk = await openChosenDisk(
      choice,
      choice.source === "file" ? pickedFile : undefined,
      {
        progress: (what, label, loaded, total) => {
          if (stale()) return;
          progress.show(what, label, loaded, total);
          if (what === "download" && demo.state === "loading" && statusDetail !== label) setState("loading", label);
        },
        copied: (e) => {
          if (stale()) return;
          if (e) progress.done("copy", `copying into browser storage failed: ${e instanceof Error ? e.message : String(e)}`, 15_000);
          else progress.done("copy", "the whole image is in browser storage now", 4000);
          showDiskInfo();
        },
        status: (text) => stale() || setState("loading", text),
      },
      o.reset,
    );
    if (stale()) {
      await disk.close();
      return;
    }
    progress.done("download");
    current = disk;
    remembered = choice;
    // A picked file cannot come back after a reload: remember it only where its persistent disk can.
    saveChoice(choice.source === "file" && !choice.persistent ? { ...choice, source: "default" } : choice);
    demo.disk = {
      name: disk.name,
      byteLength: disk.backend.byteLength,
      persistent: !!disk.opfs,
      persistentName: disk.persistentName,
      volatileWriteCache: disk.backend.volatileWriteCache,
      how: disk.how,
    };
    showDiskInfo();
    const label = `${disk.name}, ${formatBytes(disk.backend.byteLength)} on NVMe${disk.opfs ? ", persistent" : ""}`;
    setState("booting", label);
    const expectMarker = choice.source === "default";
    let line = "";
    const emulator = startMachine(
      { bios, vgaBios, drive: disk.backend, screen: freshScreen(), doorbellPolicy: storedPolicy() },
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
          syncSwitches();
          // An image other than the bundled one prints no marker: it runs once the CPU starts.
          if (!expectMarker) setState("running", label);
          else updateControls();
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
      if (demo.state === "running" && expectMarker) setState("booting", "the guest rebooted");
    }, 500);
    emulator.add_listener("emulator-stopped", () => {
      if (!stale() && !pausing && demo.emulator === emulator && demo.state !== "error") fail(new Error("the emulator stopped"));
    });
  } catch (e) {
    if (stale()) return;
    progress.done("download");
    progress.done("copy");
    if (e instanceof NeedFileError) {
      bootError = e.message;
      setState("idle", e.message);
      return;
    }
    fail(e);
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
// Leaving the page: hand whatever the guest wrote to browser storage (the guest's own flushes
// are what a reload promises to keep; this only narrows the window).
window.addEventListener("pagehide", () => void current?.opfs?.flush().catch(() => {}));

ui.diskForm.addEventListener("input", () => updateControls());
ui.diskForm.addEventListener("change", () => updateControls());
ui.url.addEventListener("focus", () => {
  ui.sourceUrl.checked = true;
  updateControls();
});
ui.diskForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  void boot(formChoice());
});
ui.picker.addEventListener("change", () => {
  const file = ui.picker.files?.[0];
  ui.picker.value = "";
  if (!file) return;
  pickedFile = file;
  ui.fileName.textContent = file.name;
  ui.sourceFile.checked = true;
  void boot(formChoice());
});
ui.reset.addEventListener("click", () => {
  const c = formChoice();
  if (!c.persistent) return;
  const ok = confirm(`Drop every change stored in this browser for ${baseName(c)} (persistent disk ${persistentName(c)}) and boot the image as it is?`);
  if (ok) void boot(c, { reset: true });
});
ui.retry.addEventListener("click", () => void boot(lastChoice));

// ---- export ----

let exportAbort: AbortController | undefined;

ui.export.addEventListener("click", () => void exportCurrent());

async function exportCurrent(): Promise<void> {
  const disk = current;
  if (!disk || demo.exporting) return;
  const emulator = demo.emulator;
  const gen = generation;
  const abort = new AbortController();
  exportAbort = abort;
  demo.exporting = true;
  updateControls();
  let paused = false;
  const stem = disk.name.replace(/\.(img|raw|bin)$/i, "");
  const label = `exporting ${disk.name}${disk.opfs ? " with its persistent changes" : ""} (the guest is paused)`;
  const t0 = performance.now();
  try {
    const result = await exportDisk(disk.backend, {
      name: `${stem}-export.img`,
      signal: abort.signal,
      onprogress: (done, total) => progress.show("export", label, done, total, () => abort.abort()),
      started: async () => {
        // A consistent image: no guest write lands between the chunks read.
        if (emulator && gen === generation && emulator.is_running()) {
          pausing = true;
          await emulator.stop();
          paused = true;
          ui.status.textContent = "paused while exporting";
          ui.status.className = "status booting";
        }
      },
    });
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    if (result === "cancelled") progress.done("export", "export cancelled", 3000);
    else progress.done("export", `exported ${formatBytes(disk.backend.byteLength)} in ${secs} s${result === "download" ? " (downloaded)" : ""}`, 6000);
  } catch (e) {
    progress.done("export", `export failed: ${e instanceof Error ? e.message : String(e)}`, 15_000);
  } finally {
    if (paused && gen === generation && demo.emulator === emulator && demo.state !== "error") {
      await emulator!.run();
      setState(demo.state, statusDetail);
    }
    pausing = false;
    demo.exporting = false;
    if (exportAbort === abort) exportAbort = undefined;
    updateControls();
  }
}

// ---- the device switches ----

function storedPolicy(): DoorbellPolicy {
  try {
    return localStorage.getItem(POLICY_KEY) === "eager" ? "eager" : "awake";
  } catch {
    return "awake";
  }
}

/** Shows the controller's actual settings (a guest's controller reset turns coalescing off). */
function syncSwitches(): void {
  const d = demo.device();
  if (d) {
    ui.policyAwake.checked = d.policy === "awake";
    ui.policyEager.checked = d.policy === "eager";
    const on = d.coalescing.threshold !== 0 || d.coalescing.time !== 0;
    ui.coalescingOn.checked = on;
    ui.coalescingOff.checked = !on;
  }
  updateControls();
}
setInterval(syncSwitches, 1000);
showChoice(remembered);
ui.policyAwake.checked = storedPolicy() === "awake";
ui.policyEager.checked = storedPolicy() === "eager";

for (const input of [ui.policyAwake, ui.policyEager]) {
  input.addEventListener("change", () => {
    const c = demo.nvme?.controller;
    if (!c || !input.checked) return;
    const policy = input.value as DoorbellPolicy;
    c.setDoorbellPolicy(policy);
    try {
      localStorage.setItem(POLICY_KEY, policy);
    } catch {
      // not remembered
    }
    stats.mark(policy);
  });
}
for (const input of [ui.coalescingOff, ui.coalescingOn]) {
  input.addEventListener("change", () => {
    const c = demo.nvme?.controller;
    if (!c || !input.checked) return;
    const on = input.value === "on";
    c.setInterruptCoalescing(on ? COALESCE_ON.threshold : 0, on ? COALESCE_ON.time : 0);
    stats.mark(on ? "coalescing" : "no coalescing");
  });
}

for (const w of WORKLOADS) {
  const opt = document.createElement("option");
  opt.textContent = w.label;
  opt.value = w.cmd;
  opt.title = w.cmd;
  ui.workload.append(opt);
}
ui.workloadRun.addEventListener("click", () => serial.send(`${ui.workload.value}\n`));
ui.workloadStop.addEventListener("click", () => serial.send("\x03"));

// ---- start ----

if (remembered.source === "file" && !remembered.persistent) remembered = { ...remembered, source: "default" };
showChoice(remembered);
updateControls();
void boot(remembered);
