// A Linux guest booted from our NVMe controller in v86 under Node, driven through its serial
// console. Used by the e2e/node tests; small on purpose.
//
//   const g = await Guest.boot();                      // SeaBIOS -> syslinux -> Linux, root on nvme0n1p2
//   const { out, status } = await g.run("nvme list");  // typed at "guest# ", output without echo/prompt
//   g.counters().controller.shadowDoorbellReads;
//   const saved = await g.saveState(); ...; await g.restoreState(saved);
//   await g.stop();
//
// The disk is public/guest/disk.img (built by scripts/build-guest.sh) read into memory and copied
// for each guest, so nothing ever writes the file. The whole serial transcript is kept in
// `transcript`; `tail()` gives its end for failure messages.

import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { V86 } from "v86";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { attachNvme, type AttachNvmeOptions, type NvmeV86 } from "../../src/v86/attach.ts";
import type { NamespaceOptions } from "../../src/state/options.ts";
import type { AdapterCounters } from "../../src/v86/attachment.ts";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const DISK_IMAGE = join(ROOT, "public/guest/disk.img");
export const PROMPT = "guest# ";
/** The marker rootfs-init.sh prints once the root file system is mounted. */
export const ROOT_READY = "V86NVME-ROOT-READY";
/** What the initramfs prints when it gives up on the root device. */
export const INITRAMFS_SHELL = "V86NVME-INITRAMFS-SHELL";

export interface GuestOptions {
  /** Raw disk image (default public/guest/disk.img). It is copied; the file is never written. */
  disk?: string;
  /** Guest RAM in MiB (default 256, as scripts/boot.ts). */
  memoryMiB?: number;
  /** Controller serial number (default "V86E2E0001"). */
  serial?: string;
  /** More attachNvme options (drive is set by the harness). */
  nvme?: Omit<AttachNvmeOptions, "drive">;
  /**
   * Namespaces 2, 3, ... after the boot disk (namespace 1), e.g. a scratch disk no file system
   * uses, or one whose backend fails on demand.
   */
  extraNamespaces?: NamespaceOptions[];
  /** Milliseconds until the first shell prompt (default 180 s). */
  bootTimeoutMs?: number;
  /** Echo the serial console to stderr as it arrives (default: env V86_E2E_ECHO=1). */
  echo?: boolean;
  /** Attach the NVMe controller (default true). Without it `nvme` stays unset and counters() throws. */
  withNvme?: boolean;
  /**
   * Also attach a private copy of the image as v86's IDE disk (hda). SeaBIOS then boots from it
   * (syslinux and the kernel come over IDE); the label still picks the root device.
   */
  ide?: boolean;
  /** Zero bytes appended to each disk copy (NVMe and IDE), e.g. scratch space for raw-device I/O. */
  appendBytes?: number;
  /** syslinux label to boot (default "nvme", the image's default; "ide" puts root on /dev/sda2). */
  label?: "nvme" | "ide";
  /** Called with the emulator right after it is created (before anything runs), e.g. to start sampling it. */
  onEmulator?: (emulator: V86) => void;
}

export interface RunResult {
  /** The command's output (stdout and stderr as the console shows them), "\n" line ends, no ESC sequences. */
  out: string;
  /** Its exit status ($?). */
  status: number;
}

export interface GuestCounters {
  adapter: AdapterCounters;
  controller: Record<string, number>;
}

const imageCache = new Map<string, Buffer>();

/** A private copy of a disk image (the file is read once per process). */
export function loadDisk(path = DISK_IMAGE, appendBytes = 0): Uint8Array {
  if (!existsSync(path)) throw new Error(`${path} is missing: build the guest with "bash scripts/build-guest.sh"`);
  let b = imageCache.get(path);
  if (!b) {
    b = readFileSync(path);
    imageCache.set(path, b);
  }
  if (appendBytes <= 0) return new Uint8Array(b); // a copy
  const out = new Uint8Array(b.byteLength + appendBytes);
  out.set(b);
  return out;
}

/**
 * Switches the image's syslinux default from the nvme label to the ide one: "DEFAULT nvme" becomes
 * "DEFAULT  ide" (same length, patched in place in the FAT partition). Returns false when the line
 * is not found.
 */
export function selectIdeLabel(img: Uint8Array): boolean {
  const from = new TextEncoder().encode("\nDEFAULT nvme\n");
  const to = new TextEncoder().encode("\nDEFAULT  ide\n");
  const hay = Buffer.from(img.buffer, img.byteOffset, Math.min(img.byteLength, 64 << 20));
  let found = false;
  for (let i = hay.indexOf(from); i >= 0; i = hay.indexOf(from, i + 1)) {
    img.set(to, i);
    found = true;
  }
  return found;
}

function fileBuffer(path: string): ArrayBuffer {
  const b = readFileSync(path);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** Drops terminal control sequences (busybox's ESC[6n query, line-editor redraws) and CRs. */
export function clean(s: string): string {
  return s
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "")
    .replace(/\x1b[()][A-Za-z0-9]/g, "")
    .replace(/\x1b./g, "")
    .replace(/\r/g, "");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Waiter {
  test: () => boolean;
  resolve: () => void;
}

export class Guest {
  /** Every byte the guest sent on ttyS0, as one string (raw: ESC sequences and CRs kept). */
  transcript = "";
  /** Milliseconds from `new V86` to the first shell prompt. */
  bootMs = 0;
  /** Milliseconds from emulator.run() to the first shell prompt (no image copying, no attach). */
  runToPromptMs = 0;
  /** performance.now() when emulator.run() was called. */
  runStartedAt = 0;
  /** The IDE disk's bytes (v86 writes into them), when booted with `ide`. */
  ideImage: Uint8Array | undefined;
  private waiters: Waiter[] = [];
  private seq = 0;
  private scanQueued = false;
  private stopped = false;
  private failure: Error | undefined;

  private constructor(
    readonly emulator: V86,
    readonly disk: MemoryBackend,
    private readonly echo: boolean,
  ) {
    const utf8 = new TextDecoder("utf-8");
    const one = new Uint8Array(1);
    emulator.add_listener("serial0-output-byte", (byte: number) => {
      let ch: string;
      if (byte < 0x80) ch = String.fromCharCode(byte);
      else {
        one[0] = byte;
        ch = utf8.decode(one, { stream: true }); // "" until a multi-byte character is complete
      }
      this.transcript += ch;
      if (this.echo) process.stderr.write(ch);
      this.poke();
    });
  }

  /** The NVMe attachment (adapter counters, `controller`). Set once booted. */
  nvme!: NvmeV86;

  /** Boots v86 with SeaBIOS and the NVMe disk and resolves at the first shell prompt. */
  static async boot(options: GuestOptions = {}): Promise<Guest> {
    const started = performance.now();
    const withNvme = options.withNvme ?? true;
    // Without NVMe, `disk` is a one-sector placeholder nothing reads.
    const image = withNvme ? loadDisk(options.disk, options.appendBytes) : new Uint8Array(512);
    const ideImage = options.ide ? loadDisk(options.disk, options.appendBytes) : undefined;
    if (options.label === "ide") {
      for (const img of [image, ideImage]) {
        if (img && img.byteLength > 512 && !selectIdeLabel(img)) throw new Error("no 'DEFAULT nvme' line in the image: cannot select the ide label");
      }
    }
    const drive = MemoryBackend.fromBuffer(image);
    const wasm = createRequire(import.meta.url).resolve("v86/build/v86.wasm");
    const emulator = new V86({
      wasm_path: wasm,
      bios: { buffer: fileBuffer(join(ROOT, "public/bios/bios-256k.bin")) },
      vga_bios: { buffer: fileBuffer(join(ROOT, "public/bios/vgabios-stdvga.bin")) },
      memory_size: (options.memoryMiB ?? 256) << 20,
      autostart: false,
      disable_speaker: true,
      ...(ideImage ? { hda: { buffer: ideImage.buffer } } : {}),
    } as never);
    const g = new Guest(emulator, drive, options.echo ?? process.env.V86_E2E_ECHO === "1");
    g.ideImage = ideImage;
    options.onEmulator?.(emulator);
    await new Promise<void>((resolveLoaded, reject) => {
      emulator.add_listener("emulator-loaded", () => {
        if (!withNvme) {
          g.runStartedAt = performance.now();
          emulator.run();
          resolveLoaded();
          return;
        }
        attachNvme(emulator, {
          serial: options.serial ?? "V86E2E0001",
          ...options.nvme,
          ...(options.extraNamespaces?.length ? { namespaces: [{ backend: drive }, ...options.extraNamespaces] } : { drive }),
          // Warnings and errors go into the transcript, so a failing test shows them in place.
          log: (level, msg) => {
            if (level !== "info") g.transcript += `\n[host ${level}] ${msg}\n`;
          },
        }).then((nvme) => {
          g.nvme = nvme;
          g.watchControllerConfig();
          g.runStartedAt = performance.now();
          emulator.run();
          resolveLoaded();
        }).catch(reject);
      });
    }).catch(async (e) => {
      await g.stop();
      throw e;
    });
    try {
      const failed = (): boolean => g.transcript.includes(INITRAMFS_SHELL);
      await g.waitFor(
        () => failed() || (g.transcript.includes(ROOT_READY) && g.transcript.lastIndexOf(PROMPT) > g.transcript.indexOf(ROOT_READY)),
        options.bootTimeoutMs ?? 180_000,
        "the first shell prompt",
      );
      if (failed()) {
        await g.waitFor(() => g.transcript.lastIndexOf(PROMPT) > g.transcript.indexOf(INITRAMFS_SHELL), 2000, "").catch(() => undefined);
        throw new Error(`the initramfs could not mount the root file system\n--- serial tail ---\n${g.tail()}`);
      }
    } catch (e) {
      await g.stop();
      throw e;
    }
    g.bootMs = performance.now() - started;
    g.runToPromptMs = performance.now() - g.runStartedAt;
    return g;
  }

  /**
   * Every value the guest wrote to CC (offset 0x14), in order: a controller reset shows up as
   * EN going 1 -> 0 -> 1. Recorded by wrapping the controller's mmioWrite32 (the MMIO handlers
   * look the method up at each access).
   */
  readonly ccWrites: number[] = [];

  private watchControllerConfig(): void {
    const c = this.nvme.controller;
    const write = c.mmioWrite32.bind(c);
    c.mmioWrite32 = (offset: number, value: number): void => {
      if (offset === 0x14) this.ccWrites.push(value >>> 0);
      write(offset, value);
    };
  }

  /** How many times the guest cleared CC.EN after having set it (controller resets, incl. shutdown paths). */
  controllerDisables(): number {
    let n = 0;
    let en = false;
    for (const v of this.ccWrites) {
      const now = (v & 1) === 1;
      if (en && !now) n++;
      en = now;
    }
    return n;
  }

  private poke(): void {
    if (this.waiters.length === 0) return;
    // Checked on the next turn so a burst of bytes is scanned once.
    if (this.scanQueued) return;
    this.scanQueued = true;
    setImmediate(() => {
      this.scanQueued = false;
      for (const w of [...this.waiters]) {
        if (w.test()) {
          this.waiters = this.waiters.filter((x) => x !== w);
          w.resolve();
        }
      }
    });
  }

  /** Resolves when `test()` holds (checked as serial output arrives); rejects after `timeoutMs`. */
  waitFor(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (test()) return Promise.resolve();
    return new Promise<void>((resolveWait, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n--- serial tail ---\n${this.tail()}`));
      }, timeoutMs);
      const w: Waiter = {
        test,
        resolve: () => {
          clearTimeout(timer);
          resolveWait();
        },
      };
      this.waiters.push(w);
    });
  }

  /** Resolves when `pattern` shows up in the (cleaned) console output after character `from`. */
  async waitForOutput(pattern: RegExp | string, timeoutMs: number, from = 0): Promise<string> {
    let found = "";
    const test = (): boolean => {
      const text = clean(this.transcript.slice(from));
      const m = typeof pattern === "string" ? (text.includes(pattern) ? [pattern] : null) : text.match(pattern);
      if (m) found = m[0];
      return m !== null;
    };
    await this.waitFor(test, timeoutMs, String(pattern));
    return found;
  }

  /** Types raw text on the serial console (no newline added). */
  type(text: string): void {
    this.emulator.serial0_send(text);
  }

  /**
   * Types `cmd` at the prompt and waits for it to finish. The command is bracketed by two echo
   * markers (written so that the echoed command line cannot match them) and the exit status is
   * taken from the second. A command ending in "&" starts a background job and returns at once.
   * On a timeout Ctrl-C is sent and the promise rejects with the serial tail.
   */
  async run(cmd: string, timeoutMs = 60_000): Promise<RunResult> {
    if (this.stopped) throw new Error("guest stopped");
    const n = ++this.seq;
    const begin = `__BEGIN${n}__`;
    const sep = /&\s*$/.test(cmd) ? " " : "; ";
    const line = `echo __BEGIN''${n}__; ${cmd}${sep}echo __RC${n}=$?__`;
    const from = this.transcript.length;
    const endRe = new RegExp(`__RC${n}=(\\d+)__\\n`);
    let result: RunResult | undefined;
    this.type(`${line}\n`);
    try {
      await this.waitFor(
        () => {
          const text = clean(this.transcript.slice(from));
          const m = endRe.exec(text);
          if (!m) return false;
          // Done once the shell is back at its prompt after the status line.
          if (!text.includes(PROMPT, m.index + m[0].length)) return false;
          const b = text.indexOf(`${begin}\n`);
          const out = b >= 0 && b < m.index ? text.slice(b + begin.length + 1, m.index) : text.slice(0, m.index);
          result = { out: out.replace(/\n$/, ""), status: Number(m[1]) };
          return true;
        },
        timeoutMs,
        `\`${cmd}\` to finish`,
      );
    } catch (e) {
      this.type("\x03");
      throw e;
    }
    return result!;
  }

  /** Like run() but rejects when the exit status is not 0. */
  async ok(cmd: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.run(cmd, timeoutMs);
    if (r.status !== 0) throw new Error(`\`${cmd}\` exited with ${r.status}:\n${r.out}\n--- serial tail ---\n${this.tail()}`);
    return r.out;
  }

  /** Copies of the adapter's and the controller's counters. */
  counters(): GuestCounters {
    return { adapter: { ...this.nvme.counters }, controller: { ...this.nvme.controller.counters } };
  }

  /** v86's save_state() (it includes the controller; the disk contents are not in it). */
  saveState(): Promise<ArrayBuffer> {
    return this.emulator.save_state();
  }

  /** v86's restore_state(). The disk keeps its current contents. */
  restoreState(state: ArrayBuffer): Promise<void> {
    return this.emulator.restore_state(state);
  }

  /** Bytes [offset, offset + length) of the disk as the controller sees them now. */
  diskBytes(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.disk.tryRead(offset, out);
    return out;
  }

  /** The last `lines` lines of the cleaned transcript. */
  tail(lines = 60): string {
    return clean(this.transcript).split("\n").slice(-lines).join("\n");
  }

  /** Stops and destroys the emulator (idempotent). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.failure = new Error("guest stopped");
    try {
      await this.emulator.stop();
    } catch {
      /* already stopped */
    }
    await Promise.race([this.emulator.destroy().catch(() => undefined), sleep(2000)]);
  }
}
