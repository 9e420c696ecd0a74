// The contract every namespace backend keeps, run against each of them: contents as the base
// says, aligned and unaligned (to the backend's chunks) ranges, writes shadowing the base,
// zeroing, overlapping concurrent reads and writes, flush and FUA ordering, and errors that
// surface as errors rather than wrong bytes.

import { describe, it, expect } from "vitest";
import type { BlockBackend } from "../../src/backends/block-backend.ts";
import { BackendError } from "../../src/backends/block-backend.ts";

/** The byte a base image holds at `pos` (any deterministic, position-dependent pattern). */
export const baseByte = (pos: number) => (Math.imul(pos, 7) + Math.floor(pos / 512) * 13 + 1) & 0xff;

export function fillPattern<T extends Uint8Array>(offset: number, dst: T): T {
  for (let i = 0; i < dst.length; i++) dst[i] = baseByte(offset + i);
  return dst;
}

/** Fast byte equality for large arrays (toEqual walks them element by element); names the first difference. */
export function expectBytes(got: Uint8Array | undefined, want: Uint8Array, what = "bytes"): void {
  expect(got, what).toBeInstanceOf(Uint8Array);
  const g = got!;
  expect(g.length, `${what}: length`).toBe(want.length);
  if (Buffer.compare(Buffer.from(g.buffer, g.byteOffset, g.length), Buffer.from(want.buffer, want.byteOffset, want.length)) === 0) return;
  let i = 0;
  while (g[i] === want[i]) i++;
  expect.fail(`${what}: first difference at byte ${i}: got ${g[i]}, expected ${want[i]}`);
}

export const patternBytes = (offset: number, length: number) => fillPattern(offset, new Uint8Array(length));

export interface Harness {
  backend: BlockBackend;
  /** Initial contents: true when the disk starts as the pattern, false when it starts zeroed. */
  patterned: boolean;
  /** The backend's chunk (request, cache line) size, for ranges that straddle chunks. */
  chunk: number;
  volatileWriteCache: boolean;
  /** Makes every base read fail until cleared (backends with a base that can fail). */
  failReads?: (on: boolean) => void;
  /** A new backend over the same persistent storage: what survives a reload. */
  reopen?: () => Promise<BlockBackend>;
  close?: () => Promise<void> | void;
}

export type HarnessFactory = (size: number) => Promise<Harness>;

/** The bytes at `offset`, synchronously when the backend has them, else through read(). */
export async function readBack(b: BlockBackend, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  if (b.tryRead(offset, out)) return out;
  return b.read(offset, length);
}

async function settle(r: void | Promise<void>): Promise<void> {
  await r;
}

/** A disk model: what every backend must read back. */
class Model {
  readonly bytes: Uint8Array;
  constructor(size: number, patterned: boolean) {
    this.bytes = new Uint8Array(size);
    if (patterned) fillPattern(0, this.bytes);
  }
  slice(offset: number, length: number): Uint8Array {
    return this.bytes.slice(offset, offset + length);
  }
}

const SIZE = 1 << 20;

export function conformance(name: string, make: HarnessFactory): void {
  describe(`${name}: backend conformance`, () => {
    async function setup() {
      const h = await make(SIZE);
      return { h, b: h.backend, m: new Model(SIZE, h.patterned) };
    }

    it("reports its size and honest feature flags", async () => {
      const { h, b } = await setup();
      expect(b.byteLength).toBe(SIZE);
      expect(b.volatileWriteCache).toBe(h.volatileWriteCache);
      expect(typeof b.discardZeroes).toBe("boolean");
      await h.close?.();
    });

    it("reads the initial contents over aligned and chunk-straddling ranges", async () => {
      const { h, b, m } = await setup();
      const c = h.chunk;
      const ranges: [number, number][] = [
        [0, 512], [0, c], [c, c], [c - 512, 1024], [c - 512, 2 * c + 1024], [3 * c + 512, 512],
        [SIZE - 512, 512], [SIZE - c - 512, c + 512], [5 * 512, 17 * 512],
      ];
      for (const [o, l] of ranges) {
        expectBytes(await b.read(o, l), m.slice(o, l), `read ${o}+${l}`);
        expectBytes(await readBack(b, o, l), m.slice(o, l), `readBack ${o}+${l}`);
      }
      await h.close?.();
    });

    it("reads back writes, which shadow the rest of their chunk only where written", async () => {
      const { h, b, m } = await setup();
      const c = h.chunk;
      const writes: [number, number][] = [[512, 512], [c - 1024, 2048], [4 * c + 512, 3 * c], [SIZE - 512, 512], [7 * 512, 512]];
      let seed = 1;
      for (const [o, l] of writes) {
        const data = new Uint8Array(l).map((_, i) => (i * 31 + seed * 17) & 0xff);
        seed++;
        await settle(b.write(o, data, false));
        m.bytes.set(data, o);
      }
      for (const [o, l] of [[0, 2 * c], [c - 2048, 4096], [4 * c, 4 * c], [SIZE - c, c], [0, SIZE]] as [number, number][]) {
        expectBytes(await readBack(b, o, l), m.slice(o, l), `${o}+${l}`);
        expectBytes(await b.read(o, l), m.slice(o, l), `${o}+${l}`);
      }
      await h.close?.();
    });

    it("copies the source of a write before returning", async () => {
      const { h, b, m } = await setup();
      const src = new Uint8Array(2048).fill(0xab);
      const r = b.write(h.chunk - 1024, src, false);
      m.bytes.set(src, h.chunk - 1024);
      src.fill(0xcd); // the guest reuses its buffer at once
      await settle(r);
      expectBytes(await b.read(h.chunk - 1024, 2048), m.slice(h.chunk - 1024, 2048));
      await h.close?.();
    });

    it("zeroes ranges with writeZeroes, and discards as its discardZeroes says", async () => {
      const { h, b, m } = await setup();
      const c = h.chunk;
      await settle(b.writeZeroes(c - 512, c + 1024));
      m.bytes.fill(0, c - 512, 2 * c + 512);
      expectBytes(await readBack(b, 0, 4 * c), m.slice(0, 4 * c));
      // Written again after zeroing: the write wins; zeroed again: zeros win.
      const d = new Uint8Array(512).fill(9);
      await settle(b.write(c, d, false));
      m.bytes.set(d, c);
      expectBytes(await readBack(b, c - 512, 1536), m.slice(c - 512, 1536));
      await settle(b.discard(6 * c, 2 * c));
      const after = await readBack(b, 6 * c, 2 * c);
      if (b.discardZeroes) expect(after.every((x) => x === 0)).toBe(true);
      m.bytes.set(after, 6 * c); // deallocated blocks read as the backend says
      await settle(b.writeZeroes(0, SIZE));
      expect((await b.read(0, SIZE)).every((x) => x === 0)).toBe(true);
      await h.close?.();
    });

    it("keeps overlapping concurrent reads and writes coherent", async () => {
      const { h, b, m } = await setup();
      const c = h.chunk;
      const o = 2 * c - 4096;
      const len = 8192;
      const before = m.slice(o, len);
      const r1 = b.read(o, len);
      const w = new Uint8Array(4096).fill(0x5a);
      const wr = b.write(o + 2048, w, false);
      m.bytes.set(w, o + 2048);
      const r2 = b.read(o, len);
      const w2 = new Uint8Array(1024).fill(0x33);
      const wr2 = b.write(o + 4096, w2, false);
      m.bytes.set(w2, o + 4096);
      const r3 = b.read(o - c, len + 2 * c);
      await Promise.all([settle(wr), settle(wr2)]);
      const [a1, a2, a3] = await Promise.all([r1, r2, r3]);
      // A read issued before a write sees, block by block, the old or the new bytes; one issued
      // after a write sees it.
      const mid = m.slice(o, len);
      for (let s = 0; s < len; s += 512) {
        const got = a1.subarray(s, s + 512);
        const old = before.subarray(s, s + 512);
        const neu = mid.subarray(s, s + 512);
        const w1only = new Uint8Array(old);
        if (s >= 2048 && s < 6144) w1only.fill(0x5a);
        const ok = [old, neu, w1only].some((x) => x.every((v, i) => v === got[i]));
        expect(ok, `block at ${o + s}`).toBe(true);
      }
      expectBytes(a2.subarray(2048, 4096), w.subarray(0, 2048));
      expectBytes(a2.subarray(5120, 6144), w.subarray(3072, 4096));
      expectBytes(a3.subarray(c + 4096, c + 5120), w2);
      expectBytes(await b.read(o - c, len + 2 * c), m.slice(o - c, len + 2 * c));
      // Many reads of the same chunk at once agree.
      const same = await Promise.all(Array.from({ length: 8 }, () => b.read(2 * c, c)));
      for (const s of same) expectBytes(s, m.slice(2 * c, c));
      await h.close?.();
    });

    it("stays equal to a model under random operations, each seeing every one issued before it", async () => {
      // Issue order is enough for v86's IDE, which reads after a write it never waited for.
      const { h, b, m } = await setup();
      let seed = 7;
      const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
      const sectors = SIZE / 512;
      const pending: Promise<void>[] = [];
      for (let step = 0; step < 400; step++) {
        const n = 1 + Math.floor(rnd() * (rnd() < 0.1 ? 300 : 24));
        const at = Math.floor(rnd() * (sectors - n)) * 512;
        const len = n * 512;
        const op = rnd();
        if (op < 0.4) {
          const data = new Uint8Array(len).map(() => Math.floor(rnd() * 256));
          m.bytes.set(data, at);
          pending.push(Promise.resolve(b.write(at, data, rnd() < 0.1)));
          data.fill(0); // the caller's buffer is reused at once
        } else if (op < 0.5) {
          pending.push(Promise.resolve(b.writeZeroes(at, len)));
          m.bytes.fill(0, at, at + len);
        } else if (op < 0.55 && b.discardZeroes) {
          pending.push(Promise.resolve(b.discard(at, len)));
          m.bytes.fill(0, at, at + len);
        } else if (op < 0.6) {
          pending.push(Promise.resolve(b.flush()));
        } else {
          const got = rnd() < 0.5 ? await readBack(b, at, len) : await b.read(at, len);
          expectBytes(got, m.slice(at, len), `step ${step}: read ${at}+${len}`);
        }
      }
      await Promise.all(pending);
      await b.flush();
      expectBytes(await b.read(0, SIZE), m.bytes, "whole disk");
      if (h.reopen) expectBytes(await (await h.reopen()).read(0, SIZE), m.bytes, "whole disk after reopen");
      await h.close?.();
    });

    it("rejects ranges outside the disk", async () => {
      const { h, b } = await setup();
      const bad = async (f: () => unknown) => {
        let threw = false;
        try {
          await f();
        } catch {
          threw = true;
        }
        expect(threw).toBe(true);
      };
      await bad(() => b.read(SIZE - 512, 1024));
      await bad(() => b.tryRead(SIZE, new Uint8Array(512)));
      await bad(() => b.write(SIZE, new Uint8Array(512), false));
      await h.close?.();
    });

    it("makes flushed and FUA writes survive a reopen", async ({ skip }) => {
      const { h, b, m } = await setup();
      if (!h.reopen) skip();
      const a = new Uint8Array(4096).fill(0x11);
      await settle(b.write(h.chunk - 2048, a, false));
      m.bytes.set(a, h.chunk - 2048);
      await settle(b.flush());
      const f = new Uint8Array(512).fill(0x22);
      await settle(b.write(SIZE - 512, f, true));
      m.bytes.set(f, SIZE - 512);
      await settle(b.writeZeroes(0, 1024));
      m.bytes.fill(0, 0, 1024);
      await settle(b.flush());
      const again = await h.reopen!();
      expectBytes(await again.read(0, SIZE), m.bytes);
      await h.close?.();
    });

    it("orders a flush after the writes that completed before it", async () => {
      const { h, b, m } = await setup();
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 16; i++) {
        const d = new Uint8Array(512).fill(i + 1);
        writes.push(Promise.resolve(b.write(i * h.chunk / 2, d, false)));
        m.bytes.set(d, (i * h.chunk) / 2);
      }
      await Promise.all(writes);
      await settle(b.flush());
      if (h.reopen) {
        const again = await h.reopen();
        expectBytes(await again.read(0, SIZE), m.bytes);
      } else expectBytes(await b.read(0, SIZE), m.bytes);
      await h.close?.();
    });

    it("reports base read failures as errors, never as wrong bytes, and recovers", async ({ skip }) => {
      const { h, b, m } = await setup();
      if (!h.failReads) skip();
      const c = h.chunk;
      // Blocks already written do not need the base.
      const d = new Uint8Array(c).fill(7);
      await settle(b.write(8 * c, d, false));
      m.bytes.set(d, 8 * c);
      h.failReads!(true);
      let err: unknown;
      const got = await b.read(2 * c + 512, c).catch((e) => {
        err = e;
        return undefined;
      });
      expect(got).toBeUndefined();
      expect(err).toBeInstanceOf(BackendError);
      expect((err as BackendError).kind).toBe("read");
      expectBytes(await b.read(8 * c, c), m.slice(8 * c, c));
      h.failReads!(false);
      await new Promise((r) => setTimeout(r, 50)); // fetches begun while failing may still fail
      expectBytes(await b.read(2 * c + 512, c), m.slice(2 * c + 512, c));
      await h.close?.();
    });
  });
}
