// v86-nvme/node: boot a guest headless under Node from image and BIOS files (or bytes).
//
//   import { bootGuest } from "v86-nvme/node";
//   const guest = await bootGuest({ image: "disk.img", bios: "bios-256k.bin", vgaBios: "vgabios-stdvga.bin" });
//   const { stdout, exitCode } = await guest.exec("nvme list");
//   await guest.stop();

import { access, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { V86 } from "v86";
import { bootGuest as bootGuestWith, DEFAULT_MEMORY, DEFAULT_PROMPT } from "../guest/index.ts";
import type { BootOptions, Guest, GuestConfig } from "../guest/index.ts";

export { DEFAULT_MEMORY, DEFAULT_PROMPT };
export type {
  Guest, GuestConfig, GuestNvmeOptions, GuestSnapshot, SnapshotIdentity, SerialConsole, WaitOptions,
  ExecOptions, ExecResult, GuestCounters, BootOptions,
} from "../guest/index.ts";

/** A file's path, or its bytes. */
export type FileInput = string | URL | ArrayBuffer | Uint8Array;

export interface NodeGuestOptions extends Omit<GuestConfig, "V86" | "v86Wasm" | "image" | "bios" | "vgaBios" | "kernel" | "initrd" | "screen"> {
  /** Namespace 1's raw disk image (never written: the guest writes into an overlay). */
  image?: FileInput;
  /** Another name for `image`. */
  disk?: FileInput;
  /** SeaBIOS (bios-256k.bin has the NVMe boot driver). */
  bios: FileInput;
  vgaBios?: FileInput;
  kernel?: FileInput;
  initrd?: FileInput;
  /** v86's wasm (default: build/v86.wasm of the installed v86 package). */
  v86Wasm?: GuestConfig["v86Wasm"];
  /** Milliseconds until the first shell prompt (default 180 s). */
  timeout?: number;
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

/** v86's wasm beside the installed v86 package. */
function v86WasmPath(): string {
  try {
    return createRequire(import.meta.url).resolve("v86/build/v86.wasm");
  } catch (e) {
    throw new Error(`bootGuest: v86's build/v86.wasm not found (is the "v86" package installed?); pass v86Wasm to give it: ${(e as Error).message}`);
  }
}

/** Boots v86 with the NVMe disk under Node and resolves at the guest's first shell prompt. */
export async function bootGuest(options: NodeGuestOptions, boot: BootOptions = {}): Promise<Guest> {
  if (!options || typeof options !== "object") throw new TypeError("bootGuest: give an options object");
  const { image: imageIn, disk, bios, vgaBios, kernel, initrd, v86Wasm, timeout, ...rest } = options;
  const imageInput = imageIn ?? disk;
  if (imageInput === undefined) throw new TypeError("bootGuest: `image` (a raw disk image's path or bytes) is missing");
  if (bios === undefined) throw new TypeError("bootGuest: `bios` (SeaBIOS's bios-256k.bin: path or bytes) is missing");
  const [image, biosBytes, vgaBytes, kernelBytes, initrdBytes] = await Promise.all([
    load(imageInput, "the image"),
    load(bios, "the BIOS"),
    vgaBios === undefined ? undefined : load(vgaBios, "the VGA BIOS"),
    kernel === undefined ? undefined : load(kernel, "the kernel"),
    initrd === undefined ? undefined : load(initrd, "the initrd"),
  ]);
  if (typeof v86Wasm === "string") {
    await access(v86Wasm).catch(() => {
      throw new Error(`bootGuest: v86Wasm ${v86Wasm} is not a readable file`);
    });
  }
  return bootGuestWith(
    {
      ...rest,
      V86: V86,
      v86Wasm: v86Wasm ?? v86WasmPath(),
      image,
      bios: biosBytes,
      vgaBios: vgaBytes,
      kernel: kernelBytes,
      initrd: initrdBytes,
    },
    { timeout, ...boot },
  );
}
