// A BlockBackend as v86's IDE disk buffer: the contract checked directly, then SeaBIOS booting a
// boot sector from it as hda (reads through get/get_and_cache/get_from_cache, a write via INT 13h).
import { describe, it, expect, afterEach } from "vitest";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { V86 } from "v86";
import { V86DiskBuffer } from "../../src/backends/v86-buffer.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { FileBackend } from "../../src/backends/file.ts";
import { BackendError } from "../../src/backends/block-backend.ts";
import type { BlockBackend } from "../../src/backends/block-backend.ts";
import { expectBytes, patternBytes } from "./conformance.ts";
import { VirtualBlob } from "./virtual-blob.ts";

const WASM = createRequire(import.meta.url).resolve("v86/build/v86.wasm");

/** Writes itself to LBA 1 through INT 13h, then prints "OK" on COM1 and halts. */
function bootSector(): Uint8Array<ArrayBuffer> {
  const code = [
    0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xc0, // xor ax,ax; mov ds,ax; mov es,ax
    0xb8, 0x01, 0x03, 0xb9, 0x02, 0x00, 0xba, 0x80, 0x00, 0xbb, 0x00, 0x7c, 0xcd, 0x13, // int 13h: write 1 sector to C0/H0/S2
    0xba, 0xf8, 0x03, 0xb0, 0x4f, 0xee, 0xb0, 0x4b, 0xee, 0xb0, 0x0a, 0xee, // "OK\n" to 0x3f8
    0xfa, 0xf4, 0xeb, 0xfc, // cli; hlt; jmp $-2
  ];
  const s = new Uint8Array(512);
  s.set(code);
  s[510] = 0x55;
  s[511] = 0xaa;
  return s;
}

let emulator: { destroy(): Promise<void> } | undefined;
afterEach(async () => {
  await emulator?.destroy();
  emulator = undefined;
});

async function bootFrom(disk: BlockBackend): Promise<string> {
  const bios = readFileSync(new URL("../../public/bios/bios-256k.bin", import.meta.url));
  const e = new V86({
    wasm_path: WASM,
    bios: { buffer: bios.buffer.slice(bios.byteOffset, bios.byteOffset + bios.length) },
    memory_size: 32 << 20,
    hda: new V86DiskBuffer(disk) as never,
    autostart: true,
    disable_speaker: true,
  } as never) as unknown as { destroy(): Promise<void>; add_listener(n: string, f: (b: number) => void): void };
  emulator = e;
  let serial = "";
  e.add_listener("serial0-output-byte", (b: number) => (serial += String.fromCharCode(b)));
  const until = Date.now() + 15_000;
  while (!serial.includes("OK") && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return serial;
}

describe("v86 disk buffer", () => {
  it("follows v86's buffer contract", async () => {
    const disk = MemoryBackend.fromBuffer(patternBytes(0, 1 << 20));
    const b = new V86DiskBuffer(disk);
    expect(b.byteLength).toBe(1 << 20);
    let loaded = false;
    b.onload = () => (loaded = true);
    b.load();
    expect(loaded).toBe(true);
    let got: Uint8Array | undefined;
    b.get(4096, 1024, (x) => (got = x));
    expectBytes(got, patternBytes(4096, 1024)); // at hand: answered at once
    const slice = new Uint8Array(512).fill(3);
    let done = false;
    b.set(512, slice, () => (done = true));
    slice.fill(4); // v86 reuses its buffer
    expect(done).toBe(true);
    expectBytes(b.get_from_cache(512, 512), new Uint8Array(512).fill(3));
    expect(b.get_state()).toEqual([1 << 20]);
    b.set_state([1 << 20]);
    expect(() => b.set_state([4096])).toThrow(/4096/);
    let buf: unknown = 1;
    b.get_buffer((x) => (buf = x));
    expect(buf).toBeUndefined();
  });

  it("answers later when the bytes must be fetched, and reports failures without answering", async () => {
    const blob = new VirtualBlob(1 << 20);
    const errors: unknown[] = [];
    const b = new V86DiskBuffer(new FileBackend(blob), { onerror: (e) => errors.push(e) });
    expect(b.get_from_cache(0, 512)).toBeUndefined();
    const got = await new Promise<Uint8Array>((r) => b.get_and_cache(0, 512, r));
    expectBytes(got, patternBytes(0, 512));
    expectBytes(b.get_from_cache(0, 512), patternBytes(0, 512));
    blob.failing = true;
    let answered = false;
    b.get(512 * 1024, 512, () => (answered = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBe(false);
    expect(errors[0]).toBeInstanceOf(BackendError);
  });

  it("flushes a disk with a volatile write cache after writes, as v86's IDE never does", async () => {
    let flushes = 0;
    const mem = new MemoryBackend(1 << 20);
    const disk: BlockBackend = Object.assign(Object.create(mem), { volatileWriteCache: true, flush: () => void flushes++ });
    const b = new V86DiskBuffer(disk, { flushDelayMs: 5 });
    b.set(0, new Uint8Array(512), () => {});
    b.set(512, new Uint8Array(512), () => {});
    await new Promise((r) => setTimeout(r, 30));
    expect(flushes).toBe(1);
  });

  it("boots SeaBIOS from a memory disk as IDE hda and takes its write", async () => {
    const disk = new MemoryBackend(4 << 20);
    disk.write(0, bootSector());
    expect(await bootFrom(disk)).toContain("OK");
    const lba1 = new Uint8Array(512);
    disk.tryRead(512, lba1);
    expectBytes(lba1, bootSector());
  });

  it("boots from a lazily read File with writes in its overlay", async () => {
    const disk = new FileBackend(new Blob([bootSector(), new Uint8Array((4 << 20) - 512)]));
    expect(await bootFrom(disk)).toContain("OK");
    expectBytes(await disk.read(512, 512), bootSector());
    expect(disk.overlay.residentBytes).toBeGreaterThan(0);
  });
});
