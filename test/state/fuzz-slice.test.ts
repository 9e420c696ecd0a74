// A slice of `npm run fuzz:state`: 200 damaged state files, every kind of damage, through
// decodeStateFile() and bootGuest({ state }) in a real v86. Needs the guest image (skipped
// without it); the base state is made here, a few seconds into the guest's boot.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DISK_IMAGE, formatReport, fuzz, KINDS, loadEnv, makeBase, takeApart } from "./fuzz-core.ts";

const INPUTS = 204; // 17 of each of the 12 kinds

describe.skipIf(!existsSync(DISK_IMAGE))("damaged state files (a slice of npm run fuzz:state)", () => {
  it(`${INPUTS} inputs: each refused with a StateFileError or resumed, none hangs, throws otherwise or leaves an emulator`, { timeout: 300_000 }, async () => {
    const env = await loadEnv();
    const base = await takeApart(await makeBase(env, 3000));
    const rep = await fuzz(env, base, INPUTS, 20_261_206, { runMs: 50 });
    const text = formatReport(rep);
    expect(rep.failures, text).toEqual([]);
    expect(rep.emulatorsLive, text).toBe(0);
    // Refused before any emulator exists: within a second.
    expect(Math.max(0, ...rep.decodeMs), text).toBeLessThan(1000);
    for (const kind of KINDS) expect(rep.byKind.has(kind), kind).toBe(true);
    // The harmless mutations resume, and an identity change is refused naming what differs (or
    // resumes when it names the same machine, e.g. a controller key in the old option names).
    expect(rep.resumed, text).toBeGreaterThan(0);
    const identity = [...(rep.byKind.get("identity") ?? new Map()).keys()].filter((k) => k !== "resumed");
    expect(identity.length, text).toBeGreaterThan(0);
    expect(identity.every((k) => k.includes("the state was made with")), text).toBe(true);
  });
});
