// What runs in the fixture's page: resumes the guest from the state file the fixture serves (or
// boots it from the files when there is none, or when the state is refused), keeps that state as
// the snapshot every test starts from, and answers the fixture's calls as `window.v86nvme`. Its
// only bare import is "v86", which the page's import map resolves to v86's libv86.mjs.

import { V86 } from "v86";
import { bootGuest, decodeStateFile, readableConsole, StateFileError, type ExecResult, type Guest, type GuestCounters, type GuestNvmeOptions, type GuestSnapshot } from "../guest/index.ts";

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

function guest(): Guest {
  if (!current) throw new Error("the guest is not booted");
  return current;
}

/** Resumes the state (or boots the guest) and keeps the snapshot every test starts from. */
export async function boot(config: RuntimeConfig): Promise<BootTimings> {
  const t0 = performance.now();
  const [image, bios, vgaBios, stateFile] = await Promise.all([
    fetchBytes(config.image),
    fetchBytes(config.bios),
    config.vgaBios ? fetchBytes(config.vgaBios) : undefined,
    config.state ? fetchBytes(config.state) : undefined,
  ]);
  const t1 = performance.now();
  const guestConfig = {
    V86,
    v86Wasm: config.v86Wasm,
    bios,
    vgaBios,
    image,
    imageId: config.imageId,
    v86Version: config.v86Version,
    memory: config.memory,
    nvme: config.nvme,
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
      const state = decodeStateFile(stateFile);
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
