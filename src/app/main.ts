// The demo page: opens the chosen disk (bundled image, image URL, picked file; optionally a
// persistent disk in the browser over it), boots v86 from the NVMe controller, and wires the
// VGA screen, the serial console, the device panel (counters, live charts, run-time switches)
// and export. Tests drive it through window.nvmeDemo (demo-api.ts).

// First: v86 binds its clock when it loads, and a resumed guest needs that clock movable.
import "./clock.ts";
import { SerialConsole } from "./console.ts";
import { createDemo, diskInfo, type DemoState } from "./demo-api.ts";
import { DiskForm, showDiskInfo } from "./disk-form.ts";
import { baseName, NeedFileError, openChosenDisk, type DiskChoice, type OpenDisk } from "./disk.ts";
import { ui } from "./elements.ts";
import { runExport } from "./export-run.ts";
import { fetchWithProgress, formatBytes } from "./loader.ts";
import { ResumeError, startMachine, stopMachine } from "./machine.ts";
import { checkState, loadManifest, loadState, NoResume, type PageManifest, type Resumable } from "./resume.ts";
import { watchSeaBios } from "./seabios.ts";
import { preloadHotPath, releasePerformanceNow } from "../index.ts";
import { notice, showBootMode } from "./header.ts";
import { freshScreen, loadBios } from "./boot-inputs.ts";
import { ProgressBars } from "./progress.ts";
import { v86Module } from "./v86-wasm.ts";
import { NamespacePanel } from "./namespaces-panel.ts";
import { FaultsPanel } from "./faults-panel.ts";
import { StatsPanel } from "./stats.ts";
import { enableSwitches, listenSwitches, showDevice, storedPolicy } from "./switches.ts";
import "./app.css";

const READY_MARKER = "V86NVME-ROOT-READY";
/** The bundled guest's shell prompt (a state names its own). */
const PROMPT = "guest# ";
// v86 has bound the movable clock (./clock.ts, imported first): the page's own timing is real time.
releasePerformanceNow();
/** `?boot=cold`: boot the bundled image instead of resuming its saved state. */
const COLD_REQUESTED = new URLSearchParams(location.search).get("boot") === "cold";

/** What the server says about the bundled image's files (asked once, beside the page's first requests). */
const manifest: Promise<PageManifest | undefined> = loadManifest();
// v86's wasm compiles while the state and the BIOS download (a failure shows when v86 starts).
v86Module().catch(() => {});
preloadHotPath().catch(() => {}); // the controller's, for the attach (a failure shows there)

const serial = new SerialConsole(ui.serial);
const stats = new StatsPanel(ui.stats, () => (demo.nvme ? demo.counters() : undefined), ui.led);
const progress = new ProgressBars(ui.progress);
const form = new DiskForm();

/** The disk in use. */
let current: OpenDisk | undefined;

const namespaces = new NamespacePanel(() => demo.nvme, () => (current ? `${current.name} (the boot disk)` : "the boot disk"));
const demo = createDemo({ serial, stats, choice: () => form.choice(), disk: () => current, namespaces });
window.nvmeDemo = demo;

/** The status line's detail, kept to restore it after a pause. */
let statusDetail = "";
/** Why the last boot did not start (shown under the disk controls until the next boot). */
let bootError = "";

function setState(state: DemoState, detail = ""): void {
  demo.state = state;
  statusDetail = detail;
  document.body.dataset.state = state;
  ui.status.textContent = detail ? `${state}: ${detail}` : state;
  ui.status.title = ui.status.textContent;
  ui.status.className = `status ${state}`;
  updateControls();
}

function updateControls(): void {
  const busy = demo.exporting;
  form.update({ busy, inUse: current, state: demo.state, problem: bootError });
  enableSwitches({ attached: !!demo.nvme, state: demo.state, busy });
}

function syncSwitches(): void {
  showDevice(demo.device());
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

setInterval(() => showDiskInfo(current), 2000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- booting ----

/** Every boot starts a new generation: whatever an older one still runs only checks it and stops. */
let generation = 0;
const staleCheck = (): (() => boolean) => {
  const gen = generation;
  return () => gen !== generation;
};
/** What the last boot was given: "Boot again" boots it. */
let lastChoice: DiskChoice;
/** Set while the page itself stops the emulator (export pauses it). */
let pausing = false;

interface BootOptions {
  reset?: boolean;
  /** Boot the image even when a saved state would resume it. */
  cold?: boolean;
  /** Why this boot is cold (a state that was refused): shown above the screen. */
  note?: string;
  /** The boot stands in for the page's first one (its prompt time counts from the page's opening). */
  fallback?: boolean;
}

/** The time to the shell prompt, in the header: from the page's opening for its first boot. */
function showPromptTime(ms: number, fromPageOpen: boolean, how: string): void {
  demo.promptMs = ms;
  ui.bootTime.textContent = `shell prompt ${(ms / 1000).toFixed(1)} s after ${fromPageOpen ? "opening the page" : "the boot started"} (${how})`;
  ui.bootTime.hidden = false;
}

async function boot(choice: DiskChoice, o: BootOptions = {}): Promise<void> {
  ++generation;
  const stale = staleCheck();
  demo.boots++;
  lastChoice = choice;
  bootError = "";
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
  ui.bootTime.hidden = true;
  demo.promptMs = undefined;
  demo.resumed = false;
  demo.timings = {};
  const mark = (step: string): void => void (demo.timings[step] = Math.round(performance.now()));
  notice(o.note);
  serial.clear();
  freshScreen(); // the last machine's screen goes with it
  stats.reset();
  showDiskInfo(undefined);
  demo.image = baseName(choice);
  ui.imageName.textContent = demo.image + (choice.persistent ? " (persistent)" : "");
  let disk: OpenDisk | undefined;
  // performance.now() counts from the page's opening.
  const bootStarted = demo.boots === 1 || o.fallback ? 0 : performance.now();
  try {
    setState("loading", "SeaBIOS");
    const isDefault = choice.source === "default";
    const m = isDefault ? await manifest : undefined;
    mark("manifest");
    if (stale()) return;
    const tryResume = isDefault && !!m?.state && choice.read === "lazy" && !choice.persistent && !o.cold && !o.reset && !COLD_REQUESTED;
    // The state downloads beside the BIOS and the disk's probe.
    let guestUp = (): void => {};
    const resumed = new Promise<void>((r) => (guestUp = r));
    const state: Promise<Resumable> | undefined = tryResume
      ? loadState(m!, (p) => stale() || progress.show("state", "downloading the saved state", p.loaded, p.total), () => mark("state downloaded"))
      : undefined;
    state?.then(() => mark("state decoded"), guestUp); // errors are seen below
    // The manifest says whether the bundled image has a boot trace (or a resume trace): the disk
    // asks only for one that exists (without a manifest it looks for its boot trace itself). A
    // resume trace waits for the resumed guest's prompt: until then the guest reads nothing, and
    // the state and the restore need the link and the CPU.
    const http = m ? { bootTrace: (tryResume ? m.resumeTrace : m.bootTrace) ?? (false as const), ...(tryResume ? { traceAfter: resumed } : {}) } : {};
    const biosFiles = loadBios(); // beside the disk's opening, awaited below
    biosFiles.catch(() => {});
    const opening = openChosenDisk(
      choice,
      choice.source === "file" ? form.picked : undefined,
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
          showDiskInfo(current);
        },
        status: (text) => stale() || setState("loading", text),
      },
      o.reset,
      http,
    );
    // The first reaction to the opening: the label is set before anything else sees the disk.
    let label = "";
    opening.then((d) => void (label = `${d.name}, ${formatBytes(d.backend.byteLength)} on NVMe${d.opfs ? ", persistent" : ""}`), () => {});
    /** The disk is open: the page shows it. */
    const opened = async (): Promise<OpenDisk | undefined> => {
      disk = await opening;
      mark("disk open");
      if (stale()) {
        await disk.close();
        return undefined;
      }
      progress.done("download");
      current = disk;
      form.remember(choice);
      demo.disk = diskInfo(disk);
      showDiskInfo(current);
      return disk;
    };
    const [bios, vgaBios] = await biosFiles.catch(async (e: unknown) => {
      await opening.then((d) => d.close(), () => {});
      throw e;
    });
    mark("bios");
    // A resume makes its machine while the bundled image is still being probed (the request waits
    // behind the state's download): only the NVMe attach needs the disk. Any other boot opens it first.
    if (!tryResume && !(await opened())) return;
    // The machine is made while the state still arrives when the manifest says its RAM size; the
    // state is checked against this page when it has, and a refusal boots the page cold.
    let resume: Resumable | undefined;
    const memory = state ? (m!.state!.memory ?? (await state.catch(() => undefined))?.info.identity.memory) : undefined;
    if (stale()) {
      await opening.then((d) => d.close(), () => {});
      return;
    }
    const pending = state && Promise.all([state, opening]).then(([r, d]) => {
      checkState(r, m!, d.backend.byteLength, memory);
      if (stale()) throw new ResumeError("the page moved on");
      resume = r;
      // Its bar ends with the figures when it was long enough to show (the header says the state's size).
      const figures = `saved state: ${formatBytes(r.bytes)}, downloaded in ${(r.downloadMs / 1000).toFixed(2)} s, decoded in ${(r.decodeMs / 1000).toFixed(2)} s`;
      progress.done("state", progress.shown("state") ? figures : undefined, 4000);
      setState("booting", `resuming the saved state (${label})`);
      return { snapshot: r.snapshot, clockMs: r.info.clockMs };
    }).catch((e: unknown) => {
      progress.done("state");
      throw e instanceof NoResume ? new ResumeError(e.message) : e;
    });
    pending?.catch(() => {}); // the machine takes it (or the page moved on)
    setState(state ? "loading" : "booting", state ? "the saved state" : label);
    const expectMarker = isDefault;
    let line = "";
    /** Output from here on is watched for the shell prompt (its time is shown). */
    let promptFrom = -1;
    let emulator: ReturnType<typeof startMachine> | undefined = undefined;
    emulator = startMachine(
      {
        bios, vgaBios, drive: opening.then((d) => d.backend), screen: freshScreen(), doorbellPolicy: storedPolicy(),
        // With the persistent option, namespaces the guest creates are kept in browser storage too.
        createBackend: choice.persistent ? (nsid, bytes) => namespaces.persistentDisk(nsid, bytes) : undefined,
        ...(pending ? { memory, resume: pending } : {}),
      },
      {
        serialByte(b) {
          if (stale()) return;
          serial.byte(b);
          if (promptFrom >= 0 && serial.raw.length > promptFrom && serial.raw.endsWith(resume?.info.prompt || PROMPT)) {
            promptFrom = -1;
            mark("prompt");
            guestUp();
            showPromptTime(performance.now() - bootStarted, bootStarted === 0, resume ? `resumed from the saved state, ${formatBytes(resume.bytes)}` : "cold boot");
          }
          if (demo.state !== "booting") return;
          if (b === 10) line = "";
          else if (line.length < 200) line += String.fromCharCode(b);
          if (line.startsWith(READY_MARKER)) {
            setState("running", line.trim());
            promptFrom = serial.raw.length;
          }
        },
        diskActivity: () => stats.activity(),
        restored() {
          if (stale() || !resume) return;
          mark("state restored");
          // The guest's console so far, as it was when the state was made (without the commands that made it).
          serial.clear();
          const transcript = resume.snapshot.serial.slice(0, resume.info.transcriptShown);
          for (let i = 0; i < transcript.length; i++) serial.byte(transcript.charCodeAt(i) & 0xff);
        },
        attached(nvme) {
          if (stale()) return;
          mark("v86 loaded, NVMe attached");
          demo.nvme = nvme;
          serial.connect((text) => emulator!.serial0_send(text));
          stats.start();
          syncSwitches();
          if (resume) {
            demo.resumed = true;
            setState("running", `resumed from the saved state (${label})`);
            // The guest answers a newline with its prompt once it runs: that is the time shown.
            promptFrom = serial.raw.length;
            serial.send("\n");
          } else if (!expectMarker) {
            // An image other than the bundled one prints no marker: it runs once the CPU starts.
            setState("running", label);
          } else updateControls();
          if (!resume) {
            const machine = emulator!;
            const done = (): boolean => stale() || demo.emulator !== machine || demo.state === "error" || serial.raw.length > 0;
            watchSeaBios(ui.screen, done, (words) => {
              void machine.stop().catch(() => {});
              fail(new Error(`SeaBIOS cannot boot ${baseName(choice)}: ${words}`));
            });
          }
        },
        failed: (e) => {
          guestUp(); // the disk's trace waits no more (this disk is closed when a cold boot follows)
          if (stale()) return;
          if (e instanceof ResumeError) {
            // v86 or the disk refused what passed the file's checks: boot cold instead.
            void boot(choice, { cold: true, fallback: bootStarted === 0, note: `Cold boot: ${e.message}.` });
            return;
          }
          fail(e);
        },
      },
    );
    demo.emulator = emulator;
    const machine = emulator;
    if (tryResume && !(await opened())) return;
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
    machine.add_listener("emulator-stopped", () => {
      if (!stale() && !pausing && demo.emulator === machine && demo.state !== "error") fail(new Error("the emulator stopped"));
    });
  } catch (e) {
    if (stale()) return;
    progress.done("download");
    progress.done("copy");
    progress.done("state");
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
// Leaving the page: hand what the guest wrote to browser storage (its flushes are what a reload keeps).
window.addEventListener("pagehide", () => void current?.opfs?.flush().catch(() => {}));

form.listen((c, o) => void boot(c, o), updateControls);
ui.retry.addEventListener("click", () => void boot(lastChoice));

// ---- export ----

ui.export.addEventListener("click", () => void exportCurrent());

async function exportCurrent(): Promise<void> {
  const disk = current;
  if (!disk || demo.exporting) return;
  const emulator = demo.emulator;
  const stale = staleCheck();
  demo.exporting = true;
  updateControls();
  let paused = false;
  await runExport(disk, progress, async () => {
    // A consistent image: no guest write lands between the chunks read.
    if (emulator && !stale() && emulator.is_running()) {
      pausing = true;
      await emulator.stop();
      paused = true;
      ui.status.textContent = "paused while exporting";
      ui.status.className = "status booting";
    }
  });
  if (paused && !stale() && demo.emulator === emulator && demo.state !== "error") {
    await emulator!.run();
    setState(demo.state, statusDetail);
  }
  pausing = false;
  demo.exporting = false;
  updateControls();
}

// ---- the device switches, the namespaces and faults panels ----

setInterval(syncSwitches, 1000);
listenSwitches({ controller: () => demo.nvme?.controller, mark: (label) => stats.mark(label), send: (text) => serial.send(text) });
namespaces.listen();
setInterval(() => namespaces.show(), 1000);
new FaultsPanel(() => demo.nvme).start(ui.nsList.closest("details")!);

// ---- start ----

const first = form.restore();
updateControls();
void manifest.then((m) => showBootMode(!!m?.state, COLD_REQUESTED));
void boot(first);
