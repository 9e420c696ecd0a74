// The project's guest, for the Node end-to-end tests and the benchmarks: v86-nvme/node's bootGuest
// with this project's image, plus what the scenarios check beyond the public API (CC writes, raw
// save_state/restore_state, disk bytes).
//
//   const g = await Guest.boot();                      // SeaBIOS -> syslinux -> Linux, root on nvme0n1p2
//   const { out, status } = await g.run("nvme list");  // guest.exec()
//   g.counters().controller.shadowDoorbellReads;
//   await g.stop();
//
// The disk is public/guest/disk.img (image.ts), read once per process; namespace 1 is a
// copy-on-write overlay over it, so nothing ever writes the file.

import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { V86 } from "v86";
import type { CowBackend, NamespaceOptions, NvmeV86 } from "../../src/index.ts";
import { bootGuest, type Guest as NodeGuest, type GuestCounters, type GuestNvmeOptions } from "../../src/node/index.ts";
import { BIOS, VGA_BIOS, loadDisk } from "./image.ts";
import { selectIdeLabel } from "./ide-label.ts";

export type { GuestCounters };
export const PROMPT = "guest# ";
/** The marker rootfs-init.sh prints once the root file system is mounted. */
export const ROOT_READY = "V86NVME-ROOT-READY";
/** What the initramfs prints when it gives up on the root device. */
export const INITRAMFS_SHELL = "V86NVME-INITRAMFS-SHELL";

/**
 * Another v86 release to run the guest on (npm run test:v86-oldest): env V86_E2E_V86 is its package
 * directory. e2e/node/vitest.config.ts points `import "v86"` there; its wasm and version come from
 * here. Undefined: the installed v86.
 */
export const V86_UNDER_TEST: { dir: string; version: string; entry: string } | undefined = (() => {
  const dir = process.env.V86_E2E_V86;
  if (!dir) return undefined;
  const pkg = JSON.parse(readFileSync(join(resolve(dir), "package.json"), "utf8")) as { version: string; main?: string };
  return { dir: resolve(dir), version: pkg.version, entry: join(resolve(dir), pkg.main ?? "build/libv86.mjs") };
})();

export interface GuestOptions {
  /** Raw disk image (default public/guest/disk.img). The file is never written. */
  disk?: string;
  /** Guest RAM in MiB (default 256: fio jobs in the benchmarks want the room). */
  memoryMiB?: number;
  /** Controller serial number (default "V86E2E0001"). */
  serial?: string;
  /** More attachNvme options (namespace 1 is the image). */
  nvme?: GuestNvmeOptions;
  /** Namespaces 2, 3, ... after the boot disk, e.g. a backend that fails on demand. */
  extraNamespaces?: NamespaceOptions[];
  /** Milliseconds until the first shell prompt (default 240 s). */
  bootTimeoutMs?: number;
  /** Echo the serial console to stderr as it arrives (default: env V86_E2E_ECHO=1). */
  echo?: boolean;
  /** Attach the NVMe controller (default true). Without it `nvme` is undefined and counters() throws. */
  withNvme?: boolean;
  /** Also attach a private copy of the image as v86's IDE disk (hda); SeaBIOS then boots from it. */
  ide?: boolean;
  /** Zero bytes appended to the image, e.g. scratch space for raw-device I/O. */
  appendBytes?: number;
  /** syslinux label to boot (default "nvme", the image's default; "ide" puts root on /dev/sda2). */
  label?: "nvme" | "ide";
  /** Called with the emulator right after it is created (before anything runs). */
  onEmulator?: (emulator: V86) => void;
}

export interface RunResult {
  /** The command's output (stdout and stderr as the console shows them), without one trailing newline. */
  out: string;
  /** Its exit status ($?). */
  status: number;
}

export class Guest {
  /** Milliseconds from bootGuest() to the first shell prompt. */
  bootMs = 0;
  /** Milliseconds from emulator.run() to the first shell prompt (no image reading, no attach). */
  runToPromptMs = 0;
  /**
   * Every value the guest wrote to CC (offset 0x14) since the boot, in order: a controller reset
   * shows up as EN going 1 -> 0 -> 1. Recorded by wrapping the controller's mmioWrite32 (the MMIO
   * handlers look the method up at each access).
   */
  readonly ccWrites: number[] = [];
  private ccEnabledAtBoot = false;

  private constructor(
    readonly guest: NodeGuest,
    private readonly withNvme: boolean,
  ) {}

  /** Boots v86 with SeaBIOS and the NVMe disk and resolves at the first shell prompt after the root file system is up. */
  static async boot(options: GuestOptions = {}): Promise<Guest> {
    let image = loadDisk(options.disk, options.appendBytes);
    if (options.label === "ide") {
      if (!((options.appendBytes ?? 0) > 0)) image = image.slice(); // not the cached file
      selectIdeLabel(image);
    }
    const echo = options.echo ?? process.env.V86_E2E_ECHO === "1";
    let runStartedAt = 0;
    const guest = await bootGuest(
      {
        image,
        imageId: options.label === "ide" ? "project image, ide label" : undefined,
        bios: BIOS,
        vgaBios: VGA_BIOS,
        memory: (options.memoryMiB ?? 256) << 20,
        ...(V86_UNDER_TEST ? { v86Wasm: join(V86_UNDER_TEST.dir, "build/v86.wasm"), v86Version: V86_UNDER_TEST.version } : {}),
        ide: options.ide,
        nvme: options.withNvme === false ? false : { serial: options.serial ?? "V86E2E0001", ...options.nvme, namespaces: options.extraNamespaces },
        // Warnings and errors next to the test's output.
        log: (level, msg) => {
          if (level === "warn" || level === "error") process.stderr.write(`[host ${level}] ${msg}\n`);
        },
        onEmulator: (emulator) => {
          if (echo) emulator.add_listener("serial0-output-byte", (b) => process.stderr.write(String.fromCharCode(b)));
          const run = emulator.run.bind(emulator);
          emulator.run = () => {
            runStartedAt = performance.now();
            return run();
          };
          options.onEmulator?.(emulator);
        },
      },
      {
        timeoutMs: options.bootTimeoutMs ?? 240_000,
        readyWhen: (serial) => {
          const t = serial.text();
          if (t.includes(INITRAMFS_SHELL)) throw new Error(`the initramfs could not mount the root file system\n--- serial tail ---\n${serial.tail()}`);
          return t.includes(ROOT_READY) && t.lastIndexOf(PROMPT) > t.indexOf(ROOT_READY);
        },
      },
    );
    const g = new Guest(guest, options.withNvme !== false);
    g.bootMs = guest.bootMs;
    g.runToPromptMs = performance.now() - runStartedAt;
    if (options.withNvme !== false) g.watchControllerConfig();
    return g;
  }

  /** The guest kit's guest resumed from its saved state (bootGuest() with no options): a second where a boot takes 20-45. */
  static async resumeKit(): Promise<Guest> {
    const guest = await bootGuest();
    const g = new Guest(guest, true);
    g.bootMs = guest.bootMs;
    g.watchControllerConfig();
    return g;
  }

  get emulator(): V86 {
    return this.guest.emulator;
  }

  /** The NVMe attachment (adapter counters, `controller`); undefined when booted without it. */
  get nvme(): NvmeV86 {
    return this.withNvme ? this.guest.nvme : (undefined as unknown as NvmeV86);
  }

  /** Namespace 1: the image under the guest's writes. */
  get disk(): CowBackend {
    return this.guest.disk;
  }

  /** The serial console's text since boot (no escape sequences or CRs). */
  get transcript(): string {
    return this.guest.serial.text();
  }

  private watchControllerConfig(): void {
    const c = this.nvme.controller;
    this.ccEnabledAtBoot = (c.mmioRead32(0x14) & 1) === 1;
    const write = c.mmioWrite32.bind(c);
    c.mmioWrite32 = (offset: number, value: number): void => {
      if (offset === 0x14) this.ccWrites.push(value >>> 0);
      write(offset, value);
    };
  }

  /** How many times the guest cleared CC.EN after having set it since the boot (controller resets, incl. shutdown paths). */
  controllerDisables(): number {
    let n = 0;
    let en = this.ccEnabledAtBoot;
    for (const v of this.ccWrites) {
      const now = (v & 1) === 1;
      if (en && !now) n++;
      en = now;
    }
    return n;
  }

  /** Runs `cmd` at the prompt (guest.exec); on a timeout it rejects with the serial tail. */
  async run(cmd: string, timeoutMs = 60_000): Promise<RunResult> {
    const r = await this.guest.exec(cmd, { timeoutMs });
    return { out: r.stdout.replace(/\n$/, ""), status: r.exitCode };
  }

  /** Like run() but rejects when the exit status is not 0. */
  async ok(cmd: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.run(cmd, timeoutMs);
    if (r.status !== 0) throw new Error(`\`${cmd}\` exited with ${r.status}:\n${r.out}\n--- serial tail ---\n${this.tail()}`);
    return r.out;
  }

  counters(): GuestCounters {
    return this.guest.counters();
  }

  /** v86's save_state() alone (it includes the controller; the disk's overlay is not in it). */
  saveState(): Promise<ArrayBuffer> {
    return this.emulator.save_state();
  }

  /** v86's restore_state() alone, into the running machine. The disk keeps its current contents. */
  restoreState(state: ArrayBuffer): Promise<void> {
    return this.emulator.restore_state(state);
  }

  /** Bytes [offset, offset + length) of namespace 1 as the controller sees them now. */
  diskBytes(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.disk.tryRead(offset, out);
    return out;
  }

  /** The last `lines` lines of the console. */
  tail(lines = 60): string {
    return this.transcript.split("\n").slice(-lines).join("\n");
  }

  /** Stops and destroys the emulator (idempotent). */
  stop(): Promise<void> {
    return this.guest.stop();
  }
}
