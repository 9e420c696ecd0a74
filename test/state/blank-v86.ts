// A real v86 for state tests: SeaBIOS with no disk (it finds nothing to boot), 32 MiB of RAM, not
// started; and a state's tree without the numbers that follow the clock.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { V86 } from "v86";
import { v86Tree } from "../../src/v86/v86-state-check.ts";
import { BIOS, VGA_BIOS } from "../project-guest/image.ts";

const require = createRequire(import.meta.url);

/** Whether the BIOS files are there (setup builds them). */
export const haveBios = existsSync(BIOS) && existsSync(VGA_BIOS);

export function blankV86(): Promise<V86> {
  const e = new V86({
    wasm_path: require.resolve("v86/build/v86.wasm"),
    bios: { buffer: readFileSync(BIOS).buffer as ArrayBuffer },
    vga_bios: { buffer: readFileSync(VGA_BIOS).buffer as ArrayBuffer },
    memory_size: 32 << 20,
    vga_memory_size: 2 << 20,
    autostart: false,
    disable_speaker: true,
  });
  return new Promise((resolve) => e.add_listener("emulator-loaded", () => resolve(e)));
}

/** Runs `e` a moment (SeaBIOS fills RAM and VGA, finds no disk) and stops it: its state then. */
export async function runAMoment(e: V86): Promise<ArrayBuffer> {
  await e.run();
  await new Promise((r) => setTimeout(r, 1500));
  await e.stop();
  return e.save_state();
}

/** A v86 state's tree as JSON, its fractional numbers (times) as 0. */
export const timelessTree = (state: ArrayBuffer): string => JSON.stringify(v86Tree(new Uint8Array(state)).state, (_k, v) => (typeof v === "number" && !Number.isInteger(v) ? 0 : v));
