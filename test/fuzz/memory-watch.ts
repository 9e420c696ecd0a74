// What the device stored during one call into it: guest RAM is copied before the call and
// compared after it. Every changed byte must lie in a region the device may write (CQ slots,
// shadow doorbell / EventIdx pages, data buffers of data-in commands) and in a range it reported
// dirty (v86 drops JIT code there; a store it did not report would leave stale code running).
// The bytes outside guest RAM (the emulator's own memory in v86) must never change.

import type { GuestMemory } from "../driver/guest-memory.ts";
import type { Region } from "./prp-model.ts";

const CHUNK = 4096;

/** Sorted, merged copy of `regions`, clipped to [0, limit). */
function merge(regions: Region[], limit: number): Region[] {
  const r: Region[] = [];
  for (const [s, e] of regions) {
    const a = s > 0 ? s : 0;
    const b = e < limit ? e : limit;
    if (b > a) r.push([a, b]);
  }
  r.sort((x, y) => x[0] - y[0]);
  const out: Region[] = [];
  for (const x of r) {
    const last = out[out.length - 1];
    if (last && x[0] <= last[1]) {
      if (x[1] > last[1]) last[1] = x[1];
    } else {
      out.push(x);
    }
  }
  return out;
}

export class MemoryWatch {
  private readonly before: Uint8Array;
  private readonly pristine: Uint8Array;
  private readonly below: number;

  constructor(private readonly mem: GuestMemory) {
    this.before = new Uint8Array(mem.ramSize);
    this.below = mem.ramBase;
    // Everything outside the RAM window as it was created (the canaries).
    const u8 = mem.u8();
    this.pristine = new Uint8Array(mem.end - mem.ramSize);
    this.pristine.set(u8.subarray(0, mem.ramBase), 0);
    this.pristine.set(u8.subarray(mem.ramBase + mem.ramSize, mem.end), mem.ramBase);
  }

  private ram(): Uint8Array {
    return this.mem.u8().subarray(this.mem.ramBase, this.mem.ramBase + this.mem.ramSize);
  }

  /** Takes the picture the next `changes` compares against. */
  snapshot(): void {
    this.before.set(this.ram());
  }

  /** Offsets of bytes outside guest RAM that changed, up to a few. */
  brokenCanaries(): number[] {
    const u8 = this.mem.u8();
    const lo = Buffer.from(u8.buffer, 0, this.below);
    const hi = Buffer.from(u8.buffer, this.below + this.mem.ramSize, this.mem.end - this.below - this.mem.ramSize);
    const p = Buffer.from(this.pristine.buffer);
    if (lo.equals(p.subarray(0, this.below)) && hi.equals(p.subarray(this.below))) return [];
    const bad: number[] = [];
    for (let i = 0; i < lo.length && bad.length < 8; i++) if (lo[i] !== p[i]) bad.push(i);
    for (let i = 0; i < hi.length && bad.length < 8; i++) if (hi[i] !== p[this.below + i]) bad.push(this.below + this.mem.ramSize + i);
    return bad;
  }

  /**
   * Guest ranges changed since the snapshot that lie outside `allowed` (asked only when
   * something changed), and those outside `dirty`; each as a list of [start, end) (runs of changed bytes, first few only).
   */
  changes(allowed: () => Region[], dirty: Region[]): { outsideAllowed: Region[]; notDirty: Region[] } {
    const now = this.ram();
    const a = Buffer.from(now.buffer, now.byteOffset, now.byteLength);
    const b = Buffer.from(this.before.buffer);
    const result = { outsideAllowed: [] as Region[], notDirty: [] as Region[] };
    if (a.equals(b)) return result;
    const size = this.mem.ramSize;
    const okAllowed = merge(allowed(), size);
    const okDirty = merge(dirty, size);
    for (let c = 0; c < size; c += CHUNK) {
      const end = Math.min(size, c + CHUNK);
      if (a.compare(b, c, end, c, end) === 0) continue;
      this.uncoveredChanges(a, b, c, end, okAllowed, result.outsideAllowed);
      this.uncoveredChanges(a, b, c, end, okDirty, result.notDirty);
    }
    return result;
  }

  /** Appends the runs of changed bytes in [start, end) not covered by the merged `ok` regions. */
  private uncoveredChanges(a: Buffer, b: Buffer, start: number, end: number, ok: Region[], out: Region[]): void {
    let pos = start;
    const check = (s: number, e: number) => {
      for (let i = s; i < e && out.length < 8; i++) {
        if (a[i] === b[i]) continue;
        let j = i;
        while (j < e && a[j] !== b[j]) j++;
        out.push([i, j]);
        i = j;
      }
    };
    for (const [s, e] of ok) {
      if (e <= pos) continue;
      if (s >= end) break;
      if (s > pos) check(pos, Math.min(s, end));
      pos = Math.max(pos, e);
      if (pos >= end) return;
    }
    if (pos < end) check(pos, end);
  }
}
