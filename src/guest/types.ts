// The guest machine's API: v86 + an NVMe disk booted to a shell on the serial console, driven
// by exec(), rewound by snapshot()/restore(). Environment-neutral: the V86 constructor and v86's
// wasm come from the caller (Node and a page import v86 differently); nothing here touches node:*.

import type { V86, V86Options } from "v86";
import type { AttachNvmeOptions, CowBackend, MachineSnapshot, NvmeV86, StateFileInfo } from "../index.ts";

/** The `V86` class as `import { V86 } from "v86"` gives it (Node) or libv86.mjs does (a page). */
export type V86Constructor = new (options: V86Options) => V86;

/** attachNvme's options minus what the guest sets itself (namespace 1 is the image). */
export type GuestNvmeOptions = Omit<AttachNvmeOptions, "drive" | "sharedWith"> & {
  /** Controllers in the NVM subsystem, each its own PCI function on the same namespaces (default 1; 2: Linux multipath). */
  controllers?: 1 | 2;
};

/**
 * An image read as the guest reads it instead of all at once: a Blob (a File in a page; under
 * Node, `fs.openAsBlob(path)`). It must not change while the guest runs.
 */
export interface ImageBlob {
  readonly size: number;
  slice(start: number, end: number): { arrayBuffer(): Promise<ArrayBuffer> };
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface GuestConfig {
  V86: V86Constructor;
  /** v86's wasm: a path (Node) or URL (page), its bytes, or a compiled module. */
  v86Wasm: string | ArrayBuffer | Uint8Array | WebAssembly.Module;
  /** SeaBIOS (bios-256k.bin has the NVMe boot driver). */
  bios: ArrayBuffer | Uint8Array;
  vgaBios?: ArrayBuffer | Uint8Array;
  /**
   * Namespace 1: a raw disk image, never written: its bytes, or a Blob read as the guest reads
   * it. The guest writes into a copy-on-write overlay over it, which snapshot() saves and
   * restore() puts back.
   */
  image: ArrayBuffer | Uint8Array | ImageBlob;
  /**
   * Who the image is, for refusing snapshots of another one (default: a hash of sampled blocks
   * and the size). Give e.g. a content hash or a version when the image may differ in few bytes.
   */
  imageId?: string;
  /** Guest RAM in bytes (default DEFAULT_MEMORY: 128 MiB). */
  memory?: number;
  /**
   * Controller options (serial, mdts, shadowDoorbells, ...). `namespaces` here are namespaces
   * 2, 3, ... after the image; their contents are not part of snapshots. `false`: no controller
   * (e.g. an IDE-only guest for comparisons); `nvme` and counters() then throw.
   */
  nvme?: GuestNvmeOptions | false;
  /** Also give v86 a private copy of the image as its IDE disk (hda); SeaBIOS then boots from it. */
  ide?: boolean;
  /** Direct kernel boot instead of SeaBIOS → syslinux (an initrd needs memory ≥ 64 MiB). */
  kernel?: ArrayBuffer | Uint8Array;
  initrd?: ArrayBuffer | Uint8Array;
  cmdline?: string;
  /** Browser only: the element v86 draws the VGA screen into. */
  screen?: HTMLElement;
  /** The shell prompt exec() and bootGuest() wait for (default "guest# "). */
  prompt?: string;
  /** Where the controller's warnings go (default: into the serial transcript as "[host warn] ..."). */
  log?: AttachNvmeOptions["log"];
  /** Called with the emulator right after it is created, before it runs (e.g. to hook it). */
  onEmulator?: (emulator: V86) => void;
  /**
   * The v86 version in use (e.g. "0.5.462+g5f9a90f"): recorded in state files, and a state made
   * by another v86 is refused (v86 restores only its own). Unknown ("") skips that check.
   */
  v86Version?: string;
  /** Extra V86 constructor options (merged last). */
  v86Options?: Partial<V86Options>;
}

export interface BootOptions {
  /** Milliseconds until the first shell prompt (default 180 s). */
  timeoutMs?: number;
  /** @deprecated Use timeoutMs (this name goes in the next release). */
  timeout?: number;
  /** What to wait for instead of the first prompt (e.g. a marker the image prints before it). */
  readyWhen?: (serial: SerialConsole) => boolean;
  /**
   * Resume this state instead of booting: a state file's bytes (`<image>.state.zst`, from
   * `guest.saveState()` or `npm run make:state`) or decodeStateFile()'s result. Refused with a
   * StateFileError naming what differs when it was made with another image, memory size,
   * controller configuration or v86; `memory` and `prompt` default to the state's.
   */
  state?: Uint8Array | ArrayBuffer | { info: StateFileInfo; snapshot: GuestSnapshot };
}

export interface WaitOptions {
  /** Milliseconds (default 30 s). */
  timeoutMs?: number;
  /** @deprecated Use timeoutMs (this name goes in the next release). */
  timeout?: number;
  /** Only look at console text after this character offset of text() (default 0: all of it). */
  from?: number;
}

/** The guest's ttyS0. Text is cleaned: no terminal escape sequences, no CRs. */
export interface SerialConsole {
  /** Everything the guest sent since boot (cleaned). */
  text(): string;
  /** The last `chars` characters of text() (default 4000). */
  tail(chars?: number): string;
  /** Resolves with the first match after `from`; rejects after the timeout with the tail in the message. */
  waitFor(pattern: RegExp | string, options?: WaitOptions): Promise<RegExpMatchArray>;
  /** Types raw text (no newline added). */
  send(text: string): void;
  /** Calls `fn` with each chunk of raw output as it arrives; returns the unsubscribe function. */
  onData(fn: (raw: string) => void): () => void;
}

export interface ExecOptions {
  /** Milliseconds (default 60 s). On a timeout Ctrl-C is sent and exec rejects with the serial tail. */
  timeoutMs?: number;
  /** @deprecated Use timeoutMs (this name goes in the next release). */
  timeout?: number;
}

export interface ExecResult {
  /** What the command wrote to the console (stdout and stderr), "\n" line ends; no trailing newline added. */
  stdout: string;
  exitCode: number;
}

export interface GuestCounters {
  adapter: NvmeV86["counters"];
  controller: NvmeV86["controller"]["counters"];
}

/** What a snapshot was taken of; restore() compares it field by field. */
export type { SnapshotIdentity } from "../index.ts";

/** The whole machine (CPU, RAM, devices, the controller), namespace 1's overlay and the console transcript. */
export type GuestSnapshot = MachineSnapshot;

export interface ScreenWaitOptions {
  /** Milliseconds (default 30 s). */
  timeoutMs?: number;
}

/** The VGA text screen (what SeaBIOS, a boot loader or a guest without a serial console shows). */
export interface GuestScreen {
  /** Its lines, trailing spaces and empty last lines removed ([] in a graphics mode). */
  text(): string[];
  /**
   * Resolves with the first match on the screen (its lines joined by "\n"); rejects after
   * `timeoutMs` (default 30 s) with the screen's text in the message.
   */
  waitFor(pattern: RegExp | string, options?: ScreenWaitOptions): Promise<RegExpMatchArray>;
}

/** The guest's PS/2 keyboard (US layout), for consoles, boot loaders and firmware that read it. */
export interface GuestKeyboard {
  /** Types text: letters, digits, punctuation, space; "\n" is Enter, "\t" Tab. */
  type(text: string): Promise<void>;
  /** Presses and releases a key or chord: "Enter", "Escape", "F1"..."F12", "ArrowUp", "Ctrl+C", "Shift+Tab", "Ctrl+Alt+Delete". */
  press(key: string): Promise<void>;
}

export interface TransferOptions {
  /** Milliseconds for the guest's part of a file transfer (default 300 s). */
  timeoutMs?: number;
}

export interface Guest {
  readonly emulator: V86;
  readonly screen: GuestScreen;
  readonly nvme: NvmeV86;
  /** Every controller of the NVM subsystem, `nvme` first (nvme: { controllers: 2 } attaches a second). */
  readonly nvmeControllers: readonly NvmeV86[];
  /** Namespace 1 as the guest sees it: the image under the guest's writes. */
  readonly disk: CowBackend;
  readonly serial: SerialConsole;
  readonly keyboard: GuestKeyboard;
  /** Runs `cmd` in the guest's shell and resolves with its output and exit status. */
  exec(cmd: string, options?: ExecOptions): Promise<ExecResult>;
  /**
   * Writes the bytes into the guest file `path` (created or replaced; its directory must exist).
   * They go over a scratch NVMe namespace that is added for the transfer and removed after it;
   * transfers, exec, snapshot and restore run one at a time.
   */
  putFile(path: string, data: Uint8Array | ArrayBuffer, options?: TransferOptions): Promise<void>;
  /** The guest file `path`'s bytes (rejects naming the path when it is not a file there). */
  getFile(path: string, options?: TransferOptions): Promise<Uint8Array>;
  /** Unpacks a tar archive (e.g. packTar()'s) into the guest directory `dir` (made when missing). */
  putDir(dir: string, tar: Uint8Array | ArrayBuffer, options?: TransferOptions): Promise<void>;
  /** A tar archive of the guest directory `dir`'s contents (unpackTar() reads it). */
  getDir(dir: string, options?: TransferOptions): Promise<Uint8Array>;
  /** The whole machine: CPU, RAM, devices, the controller, namespace 1's overlay, and what it was taken with. */
  snapshot(): Promise<GuestSnapshot>;
  /** Rewinds to a snapshot; refuses (Error naming what differs) one taken with another image, memory or controller. */
  restore(snapshot: GuestSnapshot): Promise<void>;
  counters(): GuestCounters;
  /**
   * A state file's contents (uncompressed; zstd-compress it to store it): drops the guest's page
   * cache and zeroes its free memory first, then snapshots. Resume it with bootGuest's `state`.
   */
  captureState(): Promise<Uint8Array>;
  /** Milliseconds from start to the first prompt (or to the end of the resume). */
  readonly bootMs: number;
  /** Stops and destroys the emulator (idempotent). */
  stop(): Promise<void>;
}
