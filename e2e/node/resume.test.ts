// Resuming instead of booting, under Node: the guest kit's state (bootGuest() with no options),
// a state saved after the guest wrote a file (RAM and namespace 1's overlay come back), and the
// refusals: a state for another memory size, controller configuration or image names what
// differs, a damaged one fails fast. One cold boot in all (the state saved here is taken of the
// resumed kit guest, so no boot is needed for it either).

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bootGuest, decodeStateFile, StateFileError, type NodeGuest } from "../../src/node/index.ts";
import { files } from "v86-nvme-guest/node";
import { note } from "./support.ts";

const dir = mkdtempSync(join(tmpdir(), "v86-nvme-resume-"));
const guests: NodeGuest[] = [];
afterAll(async () => {
  await Promise.all(guests.map((g) => g.stop()));
  rmSync(dir, { recursive: true, force: true });
});

function kitState(): string {
  if (!files.state) throw new Error("the guest kit has no state: run npm run build:kit");
  return files.state;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await fn();
  return [v, performance.now() - t];
}

describe("resume", () => {
  it("bootGuest() resumes the guest kit's state and runs a command within seconds", async () => {
    const [guest, resumeMs] = await timed(() => bootGuest());
    guests.push(guest);
    const [list, execMs] = await timed(() => guest.exec("nvme list"));
    note(`kit state resumed in ${Math.round(resumeMs)} ms, first exec (nvme list) ${Math.round(execMs)} ms later`);
    expect(list.exitCode).toBe(0);
    expect(list.stdout).toContain("/dev/nvme0n1");
    expect(resumeMs).toBeLessThan(30_000); // a cold boot takes 25-50 s here; the figure is in the note
  });

  it("the resumed guest's timers run although the state was saved later in its maker's life", async () => {
    const guest = guests[0];
    const info = decodeStateFile(readFileSync(kitState())).info;
    note(`the kit's state was saved at ${Math.round(info.clockMs / 1000)} s of its maker's clock`);
    expect(info.clockMs).toBeGreaterThan(0);
    const [slept, ms] = await timed(() => guest.exec("sleep 1; echo slept"));
    note(`sleep 1 in the resumed guest took ${Math.round(ms)} ms`);
    expect(slept.stdout).toBe("slept\n");
    expect(ms).toBeLessThan(15_000); // with the clock behind the saver's it waits until the clock catches up
  });

  it("a saved state brings back the guest's memory and its writes to the disk", async () => {
    const guest = guests[0];
    await guest.exec("echo resumed-memory > /tmp/mark; echo resumed-disk > /root/mark; sync");
    const path = join(dir, "written.state.zst");
    const saved = await guest.saveState(path, { level: 3 });
    note(`saved ${saved.bytes} bytes`);
    expect(saved.info.identity.memory).toBe(128 << 20);
    const again = await bootGuest({ state: path });
    guests.push(again);
    expect((await again.exec("cat /tmp/mark /root/mark")).stdout).toBe("resumed-memory\nresumed-disk\n");
  });

  it("refuses a state made for another memory size or controller configuration, naming it", async () => {
    const state = kitState();
    await expect(bootGuest({ memory: 256 << 20, state })).rejects.toThrow(/another memory size: 128 MiB \(this guest: 256 MiB\)/);
    await expect(bootGuest({ nvme: { serial: "OTHER" }, state })).rejects.toThrow(/another controller configuration: serial default \(this guest: "OTHER"\)/);
  });

  it("refuses a state of another image", async () => {
    const image = new Uint8Array(readFileSync(files.image));
    image[image.length - 1] ^= 0xff; // the last MiB is part of the image's identity
    await expect(bootGuest({ image, bios: files.bios, state: kitState() })).rejects.toThrow(/another image/);
  });

  it("a damaged state file fails within a second with a StateFileError", async () => {
    const good = readFileSync(kitState());
    const cases: [string, Uint8Array][] = [
      ["truncated", good.subarray(0, good.length >> 1)],
      ["bit flip", Uint8Array.from(good, (b, i) => (i === good.length >> 1 ? b ^ 0x10 : b))],
      ["not a state", new TextEncoder().encode("<!doctype html><p>not found</p>")],
    ];
    for (const [name, bytes] of cases) {
      const path = join(dir, `${name}.state.zst`);
      writeFileSync(path, bytes);
      const t = performance.now();
      const err = await bootGuest({ state: path }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const ms = performance.now() - t;
      note(`${name}: refused in ${Math.round(ms)} ms: ${(err as Error)?.message}`);
      expect(err).toBeInstanceOf(StateFileError);
      expect((err as Error).message).toContain(path);
      expect(ms).toBeLessThan(10_000); // checked before the image is read; the figure is in the note
    }
  });
});
