// What runs in the fixture's page: boots the guest from the files the fixture serves, keeps the
// snapshot taken right after boot, and answers the fixture's calls as `window.v86nvme`. Its only
// bare import is "v86", which the page's import map resolves to v86's libv86.mjs.

import { V86 } from "v86";
import { bootGuest, type ExecResult, type Guest, type GuestCounters, type GuestNvmeOptions, type GuestSnapshot } from "../guest/index.ts";

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
  timeout: number;
}

export interface BootTimings {
  /** Fetching the image and the BIOS files into the page. */
  fetchMs: number;
  /** bootGuest(): from the emulator's start to the first prompt. */
  bootMs: number;
  /** Taking the snapshot every test starts from. */
  snapshotMs: number;
  /** Its size: v86's state (CPU, RAM, devices) plus the overlay's pages. */
  snapshotBytes: number;
}

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

/** Boots the guest and takes the snapshot every test starts from. */
export async function boot(config: RuntimeConfig): Promise<BootTimings> {
  const t0 = performance.now();
  const [image, bios, vgaBios] = await Promise.all([
    fetchBytes(config.image),
    fetchBytes(config.bios),
    config.vgaBios ? fetchBytes(config.vgaBios) : undefined,
  ]);
  const t1 = performance.now();
  current = await bootGuest(
    {
      V86,
      v86Wasm: config.v86Wasm,
      bios,
      vgaBios,
      image,
      memory: config.memory,
      nvme: config.nvme,
      prompt: config.prompt,
      screen: document.getElementById("screen") ?? undefined,
      // Nothing in a test page uses them.
      v86Options: { disable_mouse: true, disable_speaker: true },
    },
    { timeout: config.timeout },
  );
  const t2 = performance.now();
  booted = await current.snapshot();
  const t3 = performance.now();
  mark = current.serial.text().length;
  return {
    fetchMs: t1 - t0,
    bootMs: t2 - t1,
    snapshotMs: t3 - t2,
    snapshotBytes: booted.machine.byteLength + booted.overlay.pageData.byteLength,
  };
}

/** Rewinds the guest to the state right after boot; returns the milliseconds it took. */
export async function reset(): Promise<number> {
  const t = performance.now();
  await guest().restore(booted!);
  mark = guest().serial.text().length;
  return performance.now() - t;
}

export const exec = (cmd: string, timeout?: number): Promise<ExecResult> => guest().exec(cmd, { timeout });

export async function waitFor(source: string, flags: string | null, timeout?: number): Promise<string[]> {
  const pattern = flags === null ? source : new RegExp(source, flags);
  return [...(await guest().serial.waitFor(pattern, { timeout, from: mark }))];
}

export const send = (text: string): void => guest().serial.send(text);

/** The console text since the current test started. */
export const text = (): string => guest().serial.text().slice(mark);

export const tail = (chars?: number): string => current?.serial.tail(chars) ?? "";

export const counters = (): GuestCounters => guest().counters();

/** The booted guest itself, for page.evaluate: `window.v86nvme.guest()`. */
export { guest };
