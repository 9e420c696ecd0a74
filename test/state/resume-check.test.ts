// A damaged v86 state must be refused before v86 sees it: v86's set_state() assigns entries as it
// goes and trusts their types and sizes, so a wrong one threw half way through (a machine half
// restored) or, like another memory size, was taken with a warning. A real v86 with a blank disk
// (no guest image needed: SeaBIOS finds nothing to boot).
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { V86, type V86Options } from "v86";
import { describe, expect, it } from "vitest";
import { bootGuest } from "../../src/guest/machine.ts";
import type { GuestConfig } from "../../src/guest/types.ts";
import { decodeStateFile, encodeStateFile, StateFileError } from "../../src/v86/state-file.ts";
import { BIOS, VGA_BIOS } from "../project-guest/image.ts";
import { build, split } from "./helpers.ts";

const require = createRequire(import.meta.url);
const haveBios = existsSync(BIOS) && existsSync(VGA_BIOS);

describe.skipIf(!haveBios)("resume refuses a v86 state this v86 cannot take, before v86 sees it", () => {
  const live = new Set<object>();
  let restores = 0;
  class CountingV86 extends V86 {
    constructor(o: V86Options) {
      super(o);
      live.add(this);
      // Every restore ends in the CPU's set_state() (v86's restore_state(), or restoreFresh()).
      this.add_listener("emulator-loaded", () => {
        const cpu = (this as unknown as { v86: { cpu: { set_state(s: unknown[]): void } } }).v86.cpu;
        const setState = cpu.set_state.bind(cpu);
        cpu.set_state = (s) => {
          restores++;
          setState(s);
        };
      });
    }
    override async destroy(): Promise<void> {
      live.delete(this);
      return super.destroy();
    }
  }
  const config = (): GuestConfig => ({
    V86: CountingV86 as unknown as typeof V86,
    v86Wasm: readFileSync(require.resolve("v86/build/v86.wasm")),
    bios: readFileSync(BIOS),
    vgaBios: readFileSync(VGA_BIOS),
    image: new Uint8Array(1 << 20),
    memory: 32 << 20,
    nvme: { serial: "CHECK1" },
    v86Options: { vga_memory_size: 256 << 10 } as Partial<V86Options>,
    v86Version: "0.5.462+g5f9a90f",
    log: () => {},
  });

  /** The container with v86's state tree changed by `change` (sections and CRC redone). */
  function damaged(container: Uint8Array, change: (state: unknown[]) => void): Uint8Array {
    const { header, sections } = split(container);
    const m = sections[0];
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    const infoLen = dv.getInt32(12, true);
    const info = JSON.parse(new TextDecoder().decode(m.subarray(16, 16 + infoLen)));
    change(info.state);
    const text = new TextEncoder().encode(JSON.stringify(info));
    const buffers = m.subarray((16 + infoLen + 3) & ~3);
    const at = (16 + text.byteLength + 3) & ~3;
    const out = new Uint8Array(at + buffers.byteLength);
    const h = new Int32Array(out.buffer, 0, 4);
    h.set([0x86768676 | 0, 6, out.byteLength, text.byteLength]);
    out.set(text, 16);
    out.set(buffers, at);
    return build(header, [out, ...sections.slice(1)]);
  }

  it("a register file of another type, another memory size: refused by name, v86 never restores, the emulator goes", { timeout: 120_000 }, async () => {
    const t0 = performance.now();
    const guest = await bootGuest(config(), { readyWhen: () => performance.now() - t0 > 1500, timeoutMs: 60_000 });
    const container = encodeStateFile(await guest.snapshot(), { v86Version: "0.5.462+g5f9a90f", prompt: "guest# " });
    await guest.stop();
    expect(live.size).toBe(0);

    // The undamaged state resumes.
    restores = 0;
    const ok = await bootGuest(config(), { state: decodeStateFile(container) });
    expect(restores).toBe(1);
    await ok.stop();

    const cases: [string, (s: unknown[]) => void, RegExp][] = [
      // reg32 as bytes: v86's reg32.set() threw a RangeError after CPU fields were already set.
      ["reg32 as a Uint8Array", (s) => ((s[39] as { __state_type__: string }).__state_type__ = "Uint8Array"), /state\[39\] is a Uint8Array where this v86 has a Int32Array/],
      // v86 only warned ("Memory size mismatch") and ran with a wrong memory_size.
      ["another memory size inside v86's state", (s) => (s[0] = 64 << 20), /state\[0\] \(memory size\) is 67108864 where this machine has 33554432/],
      // v86's reviver ran `new undefined` ("c is not a constructor").
      ["a type v86 cannot rebuild", (s) => ((s[40] as { __state_type__: string }).__state_type__ = "Foo"), /state\[40\] is an object v86 cannot rebuild/],
      // A device's state array cut short: its set_state() read undefined fields.
      ["the PIC's state cut short", (s) => ((s[60] as unknown[]).length = 3), /state\[60\] has 3 entries where this v86 has \d+/],
    ];
    for (const [what, change, message] of cases) {
      restores = 0;
      const err = await bootGuest(config(), { state: decodeStateFile(damaged(container, change)) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(StateFileError);
      expect((err as Error).message, what).toMatch(message);
      expect(restores, what).toBe(0);
      expect(live.size, what).toBe(0);
    }
  });
});
