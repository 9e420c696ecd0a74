// attachNvme on something that is not a loaded, supported v86: a clear error naming what is
// missing and the v86 release the adapter is tested with, before anything is hooked.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { V86 } from "v86";
import { attachNvme, MemoryBackend } from "../src/index.ts";
import { missingV86Parts } from "../src/v86/attachment.ts";
import { SUPPORTED_V86_RANGE, TESTED_V86_VERSION, V86_PARTS } from "../src/v86/v86-types.ts";

const require = createRequire(import.meta.url);
const drive = () => MemoryBackend.fromBuffer(new ArrayBuffer(1 << 20));

/** An object with every part the adapter uses, shaped like a loaded V86 (nothing runs). */
function fakeV86(): Record<string, unknown> {
  const e: Record<string, unknown> = { add_listener() {} };
  for (const [path, kind] of V86_PARTS) {
    const keys = path.split(".");
    let o = e;
    for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
    const last = keys[keys.length - 1];
    o[last] = kind === "function" ? () => 0 : kind === "number" ? 0 : kind === "memory" ? new WebAssembly.Memory({ initial: 1 }) : [];
  }
  return e;
}

function remove(e: Record<string, unknown>, path: string): void {
  const keys = path.split(".");
  let o = e;
  for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
  delete o[keys[keys.length - 1]];
}

describe("attachNvme on an unsupported v86", () => {
  it("tests against the v86 release package.json installs; its peer range is the supported one", () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8"));
    expect(pkg.devDependencies.v86).toBe(TESTED_V86_VERSION);
    expect(pkg.peerDependencies.v86).toBe(SUPPORTED_V86_RANGE);
    const installed = JSON.parse(readFileSync(require.resolve("v86/package.json"), "utf8")).version;
    expect(installed.split("+")[0]).toBe(TESTED_V86_VERSION);
  });

  it("the real v86 has every part, once loaded", async () => {
    const bios = readFileSync(join(import.meta.dirname, "..", "public", "bios", "bios-256k.bin"));
    const e = new V86({ wasm_path: require.resolve("v86/build/v86.wasm"), bios: { buffer: bios.buffer.slice(bios.byteOffset, bios.byteOffset + bios.length) }, memory_size: 32 << 20, autostart: false, disable_speaker: true });
    try {
      await expect(attachNvme(e, { drive: drive() })).rejects.toThrow(/emulator-loaded/);
      await new Promise<void>((resolve) => e.add_listener("emulator-loaded", () => resolve()));
      expect(missingV86Parts(e)).toEqual([]);
    } finally {
      await e.destroy();
    }
  });

  it("names every missing part and the tested version", async () => {
    const e = fakeV86();
    expect(missingV86Parts(e)).toEqual([]);
    remove(e, "v86.cpu.run_hardware_timers");
    remove(e, "v86.cpu.devices.pci.pci_write32");
    (e.v86 as { cpu: Record<string, unknown> }).cpu.wasm_memory = new ArrayBuffer(8); // wrong kind
    const msg = await attachNvme(e, { drive: drive() }).then(() => "attached", (x: Error) => x.message);
    expect(msg).toContain("v86.cpu.run_hardware_timers");
    expect(msg).toContain("v86.cpu.devices.pci.pci_write32");
    expect(msg).toContain("v86.cpu.wasm_memory");
    expect(msg).not.toContain("v86.cpu.reboot_internal");
    expect(msg).toContain(`works with v86 ${SUPPORTED_V86_RANGE} and is tested with v86 ${TESTED_V86_VERSION}`);
  });

  it("an emulator without its CPU yet: call at emulator-loaded", async () => {
    await expect(attachNvme({ add_listener() {} }, { drive: drive() })).rejects.toThrow(/emulator-loaded/);
  });

  it("something that is not a V86 at all", async () => {
    for (const bad of [undefined, null, 42, {}, { v86: {} }]) {
      await expect(attachNvme(bad, { drive: drive() })).rejects.toThrow(/must be a V86 emulator/);
    }
  });
});
