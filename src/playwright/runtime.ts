// What runs in the fixture's page: resumes the guest from the state file the fixture serves (or
// boots it from the files when there is none, or when the state is refused), keeps that state as
// the snapshot every test starts from, and answers the fixture's calls as `window.v86nvme`. Its
// only bare import is "v86", which the page's import map resolves to v86's libv86.mjs.

import { V86 } from "v86";
import { bootGuest, decodeStateFile, readableConsole, StateFileError, type ExecResult, type Guest, type GuestCounters, type GuestNvmeOptions, type GuestSnapshot } from "../guest/index.ts";
import { v86Zstd, type CommandTraceEntry, type FaultSpec, type InjectedFault } from "../index.ts";

/** What the fixture hands the page to boot (URLs on the fixture's origin, plain JSON otherwise). */
export interface RuntimeConfig {
  image: string;
  bios: string;
  vgaBios?: string;
  v86Wasm: string;
  memory?: number;
  nvme?: GuestNvmeOptions;
  prompt?: string;
  /** Milliseconds until the first prompt. */
  bootTimeoutMs: number;
  /** A state file to resume instead of booting (refused, then booted cold, when it does not match). */
  state?: string;
  /** The image's identity when not computed from its bytes (the guest kit's manifest id). */
  imageId?: string;
  /** performance.now() of the process that saved the state, when it saved it (default: 10 minutes). */
  stateClockMs?: number;
  /** The installed v86's version: a state saved by another v86 is refused. */
  v86Version?: string;
}

export interface BootTimings {
  /** Whether the guest was resumed from the state file (false: booted). */
  resumed: boolean;
  /** Why the state file was not resumed (refused: made for another guest, or damaged). */
  refused?: string;
  /** Fetching the image, the BIOS files and the state into the page. */
  fetchMs: number;
  /** Decompressing and checking the state file. */
  decodeMs: number;
  /** bootGuest(): from the emulator's start to the first prompt, or to the resumed guest. */
  bootMs: number;
  /** Taking the snapshot every test starts from. */
  snapshotMs: number;
  /** Its size: v86's state (CPU, RAM, devices) plus the overlay's pages. */
  snapshotBytes: number;
}

/** How far on the clock of a process that saved a state is taken to be when nothing says (a boot plus its capture, with room). */
const DEFAULT_SAVER_CLOCK_MS = 10 * 60_000;

async function fetchBytes(url: string): Promise<ArrayBuffer> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load ${url}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

let current: Guest | undefined;
let booted: GuestSnapshot | undefined;
/** serial.text() length when the current test started: its waitFor and text look from there. */
let mark = 0;
/** The last command trace entry before the current test started (the trace outlives restores). */
let traceMark: string | undefined;

function guest(): Guest {
  if (!current) throw new Error("the guest is not booted");
  return current;
}

/** Resumes the state (or boots the guest) and keeps the snapshot every test starts from. */
export async function boot(config: RuntimeConfig): Promise<BootTimings> {
  const t0 = performance.now();
  const [v86Wasm, image, bios, vgaBios, stateFile] = await Promise.all([
    // Compiled here: the emulator is made from it, and states are decoded by v86's own zstd.
    WebAssembly.compileStreaming(fetch(config.v86Wasm)),
    fetchBytes(config.image),
    fetchBytes(config.bios),
    config.vgaBios ? fetchBytes(config.vgaBios) : undefined,
    config.state ? fetchBytes(config.state) : undefined,
  ]);
  const t1 = performance.now();
  const guestConfig = {
    V86,
    v86Wasm,
    bios,
    vgaBios,
    image,
    imageId: config.imageId,
    v86Version: config.v86Version,
    memory: config.memory,
    // The trace records from the start here (elsewhere it waits for a first fault): a failed
    // test's report carries the commands it ran, faults or not.
    nvme: { traceLength: 1000, ...config.nvme },
    prompt: config.prompt,
    screen: document.getElementById("screen") ?? undefined,
    // Nothing in a test page uses them.
    v86Options: { disable_mouse: true, disable_speaker: true },
  };
  let refused: string | undefined;
  let decodeMs = 0;
  /** When the resume started, on the page's clock after it was moved past the saver's. */
  let resumeStart = t1;
  if (stateFile) {
    try {
      const state = decodeStateFile(stateFile, { zstd: v86Zstd(v86Wasm) });
      decodeMs = performance.now() - t1;
      // v86's timers in the state count from the saving process's clock: this page's must be past it.
      const saved = (state.info as { clockMs?: unknown }).clockMs;
      window.v86nvmeClockAtLeast?.((typeof saved === "number" ? saved : (config.stateClockMs ?? DEFAULT_SAVER_CLOCK_MS)) + 1000);
      resumeStart = performance.now();
      current = await bootGuest(guestConfig, { timeoutMs: config.bootTimeoutMs, state });
      // The state is the snapshot: restoring it copies from it, so it stays as it is.
      booted = state.snapshot;
    } catch (e) {
      if (!(e instanceof StateFileError)) throw e;
      refused = e.message;
    }
  }
  const t2 = performance.now();
  const resumeMs = t2 - resumeStart;
  let snapshotMs = 0;
  if (!current) {
    try {
      current = await bootGuest(guestConfig, { timeoutMs: config.bootTimeoutMs });
    } catch (e) {
      if (refused === undefined || !(e instanceof Error)) throw e;
      throw new Error(`${e.message} (booted cold because the state was refused: ${refused})`);
    }
    const t = performance.now();
    booted = await current.snapshot();
    snapshotMs = performance.now() - t;
  }
  mark = current.serial.text().length;
  const resumed = stateFile !== undefined && refused === undefined;
  return {
    resumed,
    refused,
    fetchMs: t1 - t0,
    decodeMs,
    bootMs: resumed ? resumeMs : current.bootMs,
    snapshotMs,
    snapshotBytes: booted!.machine.byteLength + booted!.overlay.pageData.byteLength,
  };
}

/** Rewinds the guest to the state right after boot; returns the milliseconds it took. */
export async function reset(): Promise<number> {
  const t = performance.now();
  await guest().restore(booted!);
  mark = guest().serial.text().length;
  // Faults are the host's, not part of the state: a test's faults end with it.
  guest().nvme.clear();
  traceMark = JSON.stringify(guest().nvme.trace().at(-1));
  return performance.now() - t;
}

export const exec = (cmd: string, timeoutMs?: number): Promise<ExecResult> => guest().exec(cmd, { timeoutMs });

export async function waitFor(source: string, flags: string | null, timeoutMs?: number): Promise<string[]> {
  const pattern = flags === null ? source : new RegExp(source, flags);
  return [...(await guest().serial.waitFor(pattern, { timeoutMs, from: mark }))];
}

export const send = (text: string): void => guest().serial.send(text);

/** The console text since the current test started. */
export const text = (): string => guest().serial.text().slice(mark);

/** text() with each exec()'s plumbing shown as the command it ran: for failure reports. */
export const readableText = (): string => readableConsole(text());

export const tail = (chars?: number): string => current?.serial.tail(chars) ?? "";

export const counters = (): GuestCounters => guest().counters();

/** The booted guest itself, for page.evaluate: `window.v86nvme.guest()`. */
export { guest };

/** Writes the bytes at `url` (on the fixture's server) into a guest file, or unpacks them (a tar archive) into a guest directory. */
export async function putFile(path: string, url: string, dir: boolean, timeoutMs?: number): Promise<void> {
  const bytes = new Uint8Array(await fetchBytes(url));
  await (dir ? guest().putDir(path, bytes, { timeoutMs }) : guest().putFile(path, bytes, { timeoutMs }));
}

/** Posts a guest file's bytes, or a tar archive of a guest directory, to `url` on the fixture's server. */
export async function getFile(path: string, url: string, dir: boolean, timeoutMs?: number): Promise<void> {
  const bytes = await (dir ? guest().getDir(path, { timeoutMs }) : guest().getFile(path, { timeoutMs }));
  const res = await fetch(url, { method: "POST", body: bytes as Uint8Array<ArrayBuffer> });
  if (!res.ok) throw new Error(`the fixture did not take the file's bytes: HTTP ${res.status}`);
}

export const screenText = (): string[] => guest().screen.text();

export async function screenWaitFor(source: string, flags: string | null, timeoutMs?: number): Promise<string[]> {
  return [...(await guest().screen.waitFor(flags === null ? source : new RegExp(source, flags), { timeoutMs }))];
}

export const keyboardType = (text: string): Promise<void> => guest().keyboard.type(text);
export const keyboardPress = (key: string): Promise<void> => guest().keyboard.press(key);

export const nvmeInject = (spec: FaultSpec): InjectedFault => guest().nvme.inject(spec);
export const nvmeList = (): InjectedFault[] => guest().nvme.list();
export const nvmeClear = (id?: number): void => guest().nvme.clear(id);

/** The commands the controller completed since the current test started (all of the trace when it has wrapped since). */
export function nvmeTrace(): CommandTraceEntry[] {
  const all = guest().nvme.trace();
  let at = all.length - 1;
  while (at >= 0 && JSON.stringify(all[at]) !== traceMark) at--;
  return all.slice(at + 1);
}
