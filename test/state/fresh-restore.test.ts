// restoreFresh() hands v86 its state's big buffers (guest RAM's pages, the VGA memory) as views of
// the state instead of the copies v86's restore_state() makes: the machine it gives must be the one
// v86's own restore gives, from a view at any offset of a larger buffer (a decompressed file). A
// real v86 with a blank disk (SeaBIOS finds nothing to boot), run a moment to fill RAM and VGA.
import { describe, expect, it } from "vitest";
import { referenceState, restoreFresh } from "../../src/v86/fresh-machine.ts";
import { standIn } from "../../src/v86/cpu-stand-in.ts";
import { v86Tree, type V86StateTree } from "../../src/v86/v86-state-check.ts";
import { blankV86 as emulator, haveBios, runAMoment, timelessTree } from "./blank-v86.ts";

/** Every buffer of a v86 state, in order, and its tree without the numbers that tell time. */
function contents(state: ArrayBuffer): { buffers: Uint8Array[]; tree: string } {
  const t = v86Tree(new Uint8Array(state));
  return { buffers: t.lengths.map((_, id) => t.buffer(id).slice()), tree: timelessTree(state) };
}

/** The ids of the buffers that differ between two states. */
function differing(a: { buffers: Uint8Array[] }, b: { buffers: Uint8Array[] }): number[] {
  return a.buffers.flatMap((buf, i) => (Buffer.compare(Buffer.from(b.buffers[i]), Buffer.from(buf)) === 0 ? [] : [i]));
}

describe.skipIf(!haveBios)("restoreFresh", () => {
  it("gives the machine v86's own restore gives, from a view inside a larger buffer", { timeout: 120_000 }, async () => {
    const source = await emulator();
    const state = await runAMoment(source);
    await source.destroy();
    const big = contents(state).buffers.filter((b) => b.byteLength > 1 << 20).length;
    expect(big, "buffers handed over as views (RAM's pages, VGA memory)").toBeGreaterThanOrEqual(1);

    // Two of v86's own restores tell which buffers follow the clock (timers, the RTC): only those
    // may differ, never guest RAM or the VGA memory.
    const own = await emulator();
    await own.restore_state(state.slice(0));
    const own2 = await emulator();
    await own2.restore_state(state.slice(0));
    const fresh = await emulator();
    // At an odd offset of a larger buffer, as in a decompressed state file.
    const holder = new Uint8Array(state.byteLength + 13);
    holder.set(new Uint8Array(state), 5);
    await restoreFresh(fresh, holder.subarray(5, 5 + state.byteLength));
    holder.fill(0xee); // the machine must not depend on the state's bytes after the restore

    const a = contents(await own.save_state());
    const timed = new Set(differing(a, contents(await own2.save_state())));
    const b = contents(await fresh.save_state());
    expect(b.tree).toBe(a.tree);
    expect(b.buffers.length).toBe(a.buffers.length);
    expect(differing(a, b).filter((i) => !timed.has(i) || a.buffers[i].byteLength > 1 << 20)).toEqual([]);
    expect(timed.size, "buffers that follow the clock").toBeLessThan(a.buffers.length / 4);
    for (const e of [own, own2, fresh]) await e.destroy();
  });

  it("referenceState() reads the tree and buffers v86's save_state() writes, without saving", { timeout: 120_000 }, async () => {
    const e = await emulator();
    for (const when of ["fresh", "after SeaBIOS ran"]) {
      if (when !== "fresh") await runAMoment(e);
      // v86's own save with guest RAM taken as zeros, as the reference is; twice, to tell the
      // buffers that follow the clock.
      const save = async () => v86Tree(new Uint8Array(await standIn((e as unknown as { v86: { cpu: unknown } }).v86.cpu, "is_memory_zeroed", () => () => true, () => e.save_state())));
      const saved = await save();
      const ref = await referenceState(e);
      const again = await save();
      const differ = (a: V86StateTree, b: V86StateTree): number[] => a.lengths.flatMap((_, id) => (Buffer.compare(Buffer.from(a.buffer(id)), Buffer.from(b.buffer(id))) === 0 ? [] : [id]));
      const timeless = (state: unknown): string => JSON.stringify(state, (_k, v) => (typeof v === "number" && !Number.isInteger(v) ? 0 : v));
      expect(timeless(ref.state), when).toBe(timeless(saved.state));
      expect(ref.lengths, when).toEqual(saved.lengths);
      const timed = new Set(differ(saved, again));
      expect(differ(ref, saved).filter((id) => !timed.has(id)), `${when}: buffers that differ and do not follow the clock`).toEqual([]);
    }
    await e.destroy();
  });
});
