// v86-nvme/node: boot a guest headless under Node from image and BIOS files (or bytes), or
// resume one from a state file in about a second.
//
//   import { bootGuest } from "v86-nvme/node";
//   const guest = await bootGuest();                        // the guest kit (v86-nvme-guest), resumed
//   const other = await bootGuest({ image: "disk.img", bios: "bios-256k.bin", vgaBios: "vgabios-stdvga.bin" });
//   const { stdout, exitCode } = await guest.exec("nvme list");
//   await other.saveState();                                // disk.img.state.zst: resume it next time
//   await guest.stop();

import { openAsBlob } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import * as zlib from "node:zlib";
import type { V86 as V86Class } from "v86";
import { BootError, bootGuest as bootGuestWith, decodeStateFile, DEFAULT_MEMORY, DEFAULT_PROMPT, StateFileError } from "../guest/index.ts";
import { normalizeOptionNames, v86Zstd, withV86Clock } from "../index.ts";
import type { BootOptions, Guest, GuestConfig, ImageBlob, StateFileInfo, TransferOptions } from "../guest/index.ts";
import { compressState } from "./zstd.ts";
import { readHostPath, writeHostDir, type HostTarget } from "./files.ts";
import { guestKit } from "./kit.ts";

/** zlib's CRC-32 (Node 20.15 and later): 40 MB in a few ms, where JavaScript takes 50. */
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

// v86 binds its clock when its module loads: the clock is made movable first and v86 loaded
// after it, so that a resumed guest's timers follow (src/v86/clock.ts).
let v86Module: Promise<typeof V86Class> | undefined;
const loadV86 = (): Promise<typeof V86Class> => (v86Module ??= withV86Clock(() => import("v86")).then((m) => m.V86));

export { BootError, DEFAULT_MEMORY, DEFAULT_PROMPT, decodeStateFile, StateFileError };
export type { StateFileInfo };
export type {
  Guest, GuestConfig, GuestNvmeOptions, GuestScreen, GuestSnapshot, SnapshotIdentity, SerialConsole, WaitOptions,
  ExecOptions, ExecResult, GuestCounters, BootOptions, GuestKeyboard, ScreenWaitOptions, TransferOptions, TarEntry,
} from "../guest/index.ts";
export { packTar, unpackTar } from "../guest/index.ts";
export type { HostTarget } from "./files.ts";

/** A file's path, or its bytes. */
export type FileInput = string | URL | ArrayBuffer | Uint8Array;

export interface NodeGuestOptions extends Omit<GuestConfig, "V86" | "v86Wasm" | "image" | "bios" | "vgaBios" | "kernel" | "initrd" | "screen"> {
  /** Namespace 1's raw disk image (never written: the guest writes into an overlay). */
  image?: FileInput;
  /** @deprecated Use image (this name goes in the next release). */
  disk?: FileInput;
  /** SeaBIOS (bios-256k.bin has the NVMe boot driver; default: the guest kit's, with its image). */
  bios?: FileInput;
  vgaBios?: FileInput;
  kernel?: FileInput;
  initrd?: FileInput;
  /** v86's wasm (default: build/v86.wasm of the installed v86 package). */
  v86Wasm?: GuestConfig["v86Wasm"];
  /** Milliseconds until the first shell prompt (default 180 s; BootOptions' timeoutMs wins). */
  bootTimeoutMs?: number;
  /** @deprecated Use bootTimeoutMs (this name goes in the next release). */
  timeout?: number;
  /**
   * A state file to resume (`<image>.state.zst` from saveState() or `npm run make:state`): its
   * path or bytes. `false` boots cold. Default: the guest kit's state when the kit's image is
   * used, otherwise a cold boot.
   */
  state?: FileInput | false;
}

export interface SaveStateOptions {
  /**
   * zstd level, 1-19 (default 9: about a second). 19 makes the file ~15 % smaller and takes about
   * a minute: worth it for a state that is downloaded many times (make:state uses it).
   */
  level?: number;
}

/** What saveState() wrote. */
export interface SavedState {
  path: string;
  /** The file's size (zstd-compressed). */
  bytes: number;
  info: StateFileInfo;
}

/** A guest under Node: the Guest API, host paths for file transfers, and state files. */
export interface NodeGuest extends Guest {
  /** Writes bytes, or a host file, into the guest file `path`; a host directory goes into the guest directory `path` (putDir). */
  putFile(path: string, data: Uint8Array | ArrayBuffer | string, options?: TransferOptions): Promise<void>;
  /** The guest file's bytes; `to`: also written to that host path. */
  getFile(path: string, options?: TransferOptions & HostTarget): Promise<Uint8Array>;
  /** Unpacks a tar archive, or a host directory's contents, into the guest directory `dir`. */
  putDir(dir: string, tarOrHostDir: Uint8Array | ArrayBuffer | string, options?: TransferOptions): Promise<void>;
  /** A tar archive of the guest directory's contents; `to`: also unpacked into that host directory. */
  getDir(dir: string, options?: TransferOptions & HostTarget): Promise<Uint8Array>;
  /**
   * Writes a state file (zstd) that bootGuest({ state }) resumes: the machine, namespace 1's
   * overlay and the console transcript, with the guest's free memory zeroed first. The file
   * appears whole or not at all (written beside, then renamed). Default path: the image's path +
   * ".state.zst" (give one when the image was bytes).
   */
  saveState(path?: string, options?: SaveStateOptions): Promise<SavedState>;
}

async function load(input: FileInput, what: string): Promise<Uint8Array> {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (typeof input !== "string" && !(input instanceof URL)) throw new TypeError(`bootGuest: ${what} must be a path, a URL or bytes`);
  try {
    const b = await readFile(input);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new Error(`bootGuest: cannot read ${what} ${String(input)}: ${(e as Error).message}`);
  }
}

/** The image: a file is read as the guest reads it (a resume reads a few MiB of it), bytes as given. */
async function openImageFile(input: FileInput): Promise<Uint8Array | ImageBlob> {
  if (typeof input !== "string" && !(input instanceof URL)) return load(input, "the image");
  try {
    return await openAsBlob(input);
  } catch (e) {
    throw new Error(`bootGuest: cannot read the image ${String(input)}: ${(e as Error).message}`);
  }
}

/** v86's wasm module, compiled once per process: every emulator and the state decoder share it. */
let defaultModule: Promise<WebAssembly.Module> | undefined;

/** The v86Wasm option as a compiled module (v86's own decoder then decompresses states). */
async function compileV86Wasm(wasm: GuestConfig["v86Wasm"] | undefined): Promise<WebAssembly.Module> {
  if (wasm instanceof WebAssembly.Module) return wasm;
  const compile = async (bytes: Uint8Array, what: string): Promise<WebAssembly.Module> => {
    try {
      return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    } catch (e) {
      throw new Error(`bootGuest: ${what} is not v86's wasm: ${(e as Error).message}`);
    }
  };
  if (typeof wasm === "string") return compile(await load(wasm, "v86Wasm"), `v86Wasm ${wasm}`);
  if (wasm !== undefined) return compile(await load(wasm, "v86Wasm"), "v86Wasm");
  defaultModule ??= readFile(v86WasmPath()).then((b) => compile(b, "v86's build/v86.wasm"));
  return defaultModule.catch((e) => {
    defaultModule = undefined;
    throw e;
  });
}

/** v86's wasm beside the installed v86 package. */
function v86WasmPath(): string {
  try {
    return createRequire(import.meta.url).resolve("v86/build/v86.wasm");
  } catch (e) {
    throw new Error(`bootGuest: v86's build/v86.wasm not found (is the "v86" package installed?); pass v86Wasm to give it: ${(e as Error).message}`);
  }
}

/** The installed v86's version ("" when its package.json cannot be read). */
function v86Version(): string {
  try {
    return (createRequire(import.meta.url)("v86/package.json") as { version?: string }).version ?? "";
  } catch {
    return "";
  }
}

/**
 * Boots v86 with the NVMe disk under Node and resolves at the guest's first shell prompt, or
 * resumes a state file. With no image, the guest kit's image, BIOS and state (package
 * v86-nvme-guest) are used.
 */
export async function bootGuest(nodeOptions: NodeGuestOptions = {}, bootOptions: BootOptions = {}): Promise<NodeGuest> {
  if (!nodeOptions || typeof nodeOptions !== "object") throw new TypeError("bootGuest: give an options object (or none, for the guest kit)");
  const options = normalizeOptionNames("nodeGuest", nodeOptions, "bootGuest");
  const boot = normalizeOptionNames("boot", bootOptions, "bootGuest");
  const { image: imageIn, bios, vgaBios, kernel, initrd, v86Wasm, bootTimeoutMs, state, ...rest } = options;
  let imageInput = imageIn;
  let biosInput = bios;
  let vgaInput = vgaBios;
  let stateInput = state;
  if (imageInput === undefined) {
    const kit = await guestKit("bootGuest: no `image` given");
    imageInput = kit.files.image;
    biosInput ??= kit.files.bios;
    vgaInput ??= kit.files.vgaBios;
    if (stateInput === undefined && kit.files.state) stateInput = kit.files.state;
    rest.imageId ??= kit.manifest.image.id;
  }
  if (biosInput === undefined) throw new TypeError("bootGuest: `bios` (SeaBIOS's bios-256k.bin: path or bytes) is missing");
  const wasmModule = await compileV86Wasm(v86Wasm);
  // The state first: a damaged or foreign one is refused before the image is read.
  let resume: BootOptions["state"];
  if (stateInput !== undefined && stateInput !== false) {
    try {
      resume = decodeStateFile(await load(stateInput, "the state file"), { zstd: v86Zstd(wasmModule), crc32: nativeCrc32 });
    } catch (e) {
      if (!(e instanceof StateFileError)) throw e;
      const where = typeof stateInput === "string" || stateInput instanceof URL ? ` ${String(stateInput)}` : "";
      const refused = new StateFileError(`bootGuest: the state file${where} cannot be resumed: ${e.message}`);
      if (state !== undefined) throw refused;
      console.warn(`v86-nvme: booting cold: ${refused.message}`); // the kit's own state, not asked for
    }
  }
  const [image, biosBytes, vgaBytes, kernelBytes, initrdBytes] = await Promise.all([
    openImageFile(imageInput),
    load(biosInput, "the BIOS"),
    vgaInput === undefined ? undefined : load(vgaInput, "the VGA BIOS"),
    kernel === undefined ? undefined : load(kernel, "the kernel"),
    initrd === undefined ? undefined : load(initrd, "the initrd"),
  ]);
  const version = v86Version();
  const config = {
      ...rest,
      V86: await loadV86(),
      v86Wasm: wasmModule,
      v86Version: rest.v86Version ?? version,
      image,
      bios: biosBytes,
      vgaBios: vgaBytes,
      kernel: kernelBytes,
      initrd: initrdBytes,
  };
  let guest: Guest;
  try {
    guest = await bootGuestWith(config, { timeoutMs: bootTimeoutMs, ...boot, ...(resume ? { state: resume } : {}) });
  } catch (e) {
    // The kit's state was not asked for: when these options make another machine, boot cold.
    if (!(e instanceof StateFileError) || !resume || state !== undefined) throw e;
    console.warn(`v86-nvme: booting cold, the guest kit's state does not fit these options (${e.message})`);
    guest = await bootGuestWith(config, { timeoutMs: bootTimeoutMs, ...boot });
  }
  const imagePath = typeof imageInput === "string" ? imageInput : imageInput instanceof URL ? fileURLToPath(imageInput) : undefined;
  const { putFile, getFile, putDir, getDir } = { putFile: guest.putFile.bind(guest), getFile: guest.getFile.bind(guest), putDir: guest.putDir.bind(guest), getDir: guest.getDir.bind(guest) };
  return Object.assign(guest, {
    async putFile(path: string, data: Uint8Array | ArrayBuffer | string, options?: TransferOptions): Promise<void> {
      if (typeof data !== "string") return putFile(path, data, options);
      const host = await readHostPath(data, `putFile ${path}`);
      return host.kind === "directory" ? putDir(path, host.bytes, options) : putFile(path, host.bytes, options);
    },
    async getFile(path: string, options: TransferOptions & HostTarget = {}): Promise<Uint8Array> {
      const bytes = await getFile(path, options);
      if (options.to !== undefined) await writeFile(options.to, bytes);
      return bytes;
    },
    async putDir(dir: string, tarOrHostDir: Uint8Array | ArrayBuffer | string, options?: TransferOptions): Promise<void> {
      if (typeof tarOrHostDir !== "string") return putDir(dir, tarOrHostDir, options);
      const host = await readHostPath(tarOrHostDir, `putDir ${dir}`);
      if (host.kind !== "directory") throw new Error(`putDir ${dir}: the host path ${tarOrHostDir} is not a directory`);
      return putDir(dir, host.bytes, options);
    },
    async getDir(dir: string, options: TransferOptions & HostTarget = {}): Promise<Uint8Array> {
      const tar = await getDir(dir, options);
      if (options.to !== undefined) await writeHostDir(options.to, tar);
      return tar;
    },
    async saveState(path?: string, options: SaveStateOptions = {}): Promise<SavedState> {
      const target = path ?? (imagePath ? `${imagePath}.state.zst` : undefined);
      if (!target) throw new TypeError("saveState: give a path (the image was given as bytes, so there is no default)");
      const level = options.level ?? 9;
      if (!Number.isInteger(level) || level < 1 || level > 19) throw new RangeError(`saveState: level is 1-19 (got ${level})`);
      const file = await compressState(await guest.captureState(), level);
      const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
      try {
        await writeFile(tmp, file);
        await rename(tmp, target);
      } catch (e) {
        await rm(tmp, { force: true });
        throw new Error(`saveState: cannot write ${target}: ${(e as Error).message}`);
      }
      return { path: target, bytes: file.byteLength, info: decodeStateFile(file).info };
    },
  });
}
