// restoreState() rewinds a running emulator to a state writing only the RAM pages that differ and
// keeping v86's compiled code for the others: the machine must be the one v86's own restore gives,
// and exactly the pages that changed must be dirtied for v86's JIT (a page left out would run stale
// compiled code). A real v86 with a blank disk (SeaBIOS finds nothing to boot), run a moment.
import type { V86 } from "v86";
import { describe, expect, it } from "vitest";
import { restoreState } from "../../src/v86/rewind.ts";
import { blankV86 as emulator, haveBios, runAMoment, timelessTree as tree } from "./blank-v86.ts";

const PAGE = 4096;

interface Cpu {
  wasm_memory: WebAssembly.Memory;
  mem8: { byteOffset: number };
  memory_size: ArrayLike<number>;
  jit_dirty_cache(start: number, end: number): void;
  jit_clear_cache(): void;
}

const cpuOf = (e: V86): Cpu => (e as unknown as { v86: { cpu: Cpu } }).v86.cpu;
const ram = (cpu: Cpu): Uint8Array => new Uint8Array(cpu.wasm_memory.buffer, cpu.mem8.byteOffset, cpu.memory_size[0]);

describe.skipIf(!haveBios)("restoreState (rewind)", () => {
  it("gives v86's own restore's machine, dirtying exactly the pages that differ and keeping the JIT cache", { timeout: 120_000 }, async () => {
    const e = await emulator();
    const state = await runAMoment(e);
    const cpu = cpuOf(e);
    const mem = ram(cpu);
    const pages = mem.byteLength / PAGE;
    const nonZero = [...Array(pages).keys()].filter((p) => mem.subarray(p * PAGE, p * PAGE + PAGE).some((b) => b !== 0));
    const zero = [...Array(pages).keys()].filter((p) => !nonZero.includes(p));
    expect(nonZero.length, "pages SeaBIOS wrote").toBeGreaterThan(4);

    // What a test might do between the snapshot and its restore: overwrite a page, change one byte
    // of another, clear a page, write into pages the state holds as zero (one alone, two adjacent).
    const changed = [nonZero[1], nonZero[3], nonZero[4], zero[10], zero[200], zero[201]].sort((a, b) => a - b);
    mem.fill(0xaa, nonZero[1] * PAGE, nonZero[1] * PAGE + PAGE);
    mem[nonZero[3] * PAGE + 4095] ^= 0x5a;
    mem.fill(0, nonZero[4] * PAGE, nonZero[4] * PAGE + PAGE);
    mem[zero[10] * PAGE + 17] = 1;
    mem.fill(7, zero[200] * PAGE, zero[201] * PAGE + PAGE);

    const dirtied = new Set<number>();
    let clears = 0;
    const dirty = cpu.jit_dirty_cache;
    cpu.jit_dirty_cache = (start, end) => {
      for (let p = start / PAGE; p < end / PAGE; p++) dirtied.add(p);
      dirty(start, end);
    };
    const clear = cpu.jit_clear_cache;
    cpu.jit_clear_cache = () => {
      clears++;
      clear();
    };
    await restoreState(e, state);
    expect([...dirtied].sort((a, b) => a - b)).toEqual(changed);
    expect(clears, "v86's whole JIT cache cleared").toBe(0);

    const own = await emulator();
    await own.restore_state(state.slice(0));
    expect(tree(await e.save_state())).toBe(tree(await own.save_state()));
    expect(Buffer.compare(Buffer.from(ram(cpu)), Buffer.from(ram(cpuOf(own)))), "guest RAM").toBe(0);
    for (const x of [e, own]) await x.destroy();
  });

  it("is v86's own restore on an emulator without the functions it needs", async () => {
    const given: ArrayBuffer[] = [];
    const fake = { restore_state: (s: ArrayBuffer) => void given.push(s), v86: { cpu: {} } };
    const bytes = new Uint8Array([1, 2, 3, 4, 5]);
    await restoreState(fake, bytes.subarray(1, 4));
    expect(given.map((s) => [...new Uint8Array(s)])).toEqual([[2, 3, 4]]);
  });
});
