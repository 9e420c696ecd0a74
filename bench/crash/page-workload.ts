// Runs in a page (imported from the dev server): a workload on the persistent disk in the real
// Origin Private File System that never ends by itself, until the tab is crashed, and the read-back
// after the crash. Every block written holds its write's number in each 32-bit word, so a block
// reads back as one version (or shows it was torn). What the Node side needs to judge a crash
// goes to the console, in order, before the step it describes:
//   W first count seq     a write of blocks [first, first+count) as write #seq
//   A seq b:v,b:v,...     a flush or FUA write completed; it covered the writes up to #seq, and the
//                         blocks changed since the previous A hold those versions
// The console's last lines before a crash may never arrive (the worker's file writes outrun
// them): a version numbered above every W line that arrived was written after them. Zeroing is
// left to the unit harness (test/backends/crash-write-path.test.ts crashes it after every file
// operation): a zeroing whose line got lost could not be told from lost data here.

import { OpfsBackend } from "../../src/backends/opfs.ts";
import { mulberry32 } from "../../src/rng.ts";

export const BLOCK = 4096;
/** Tag of the base image's blocks (a pattern no write number reaches). */
export const BASE_TAG = 0x7fffffff;

export interface WorkloadArgs {
  name: string;
  blocks: number;
  seed: number;
  /** Over a base (an overlay) rather than an empty disk. */
  overlay: boolean;
  /** The first write number (so that numbers grow across crashes of one disk). */
  firstSeq: number;
  /** Start afresh. */
  reset: boolean;
}

function baseSource(blocks: number) {
  const fill = (offset: number, dst: Uint8Array) => {
    new Uint32Array(dst.buffer, dst.byteOffset, dst.length / 4).fill(BASE_TAG);
    return offset >= 0;
  };
  return {
    byteLength: blocks * BLOCK,
    tryRead: (offset: number, dst: Uint8Array) => fill(offset, dst),
    read: async (offset: number, length: number) => {
      const d = new Uint8Array(length);
      fill(offset, d);
      return d;
    },
  };
}

async function open(a: WorkloadArgs): Promise<OpfsBackend> {
  return OpfsBackend.open({
    name: a.name,
    blockSize: BLOCK,
    reset: a.reset,
    ...(a.overlay ? { base: baseSource(a.blocks), baseId: `crash-base-${a.blocks}` } : { size: a.blocks * BLOCK }),
  });
}

/** Writes (plain and FUA) and flushes until the page dies (several requests in flight, as a guest has). */
export async function crashWorkload(a: WorkloadArgs): Promise<never> {
  const disk = await open(a);
  const random = mulberry32(a.seed);
  let seq = a.firstSeq;
  const current = new Map<number, number>();
  const changed = new Set<number>();
  const inFlight: Promise<unknown>[] = [];
  /** A flush or FUA write covering everything so far: its A line once it completed. */
  const acknowledge = (p: Promise<unknown>) => {
    const covered = seq - 1;
    const blocks = [...changed].map((b) => `${b}:${current.get(b)}`).join(",");
    changed.clear();
    inFlight.push(p.then(() => console.log(`A ${covered} ${blocks}`)));
  };
  console.log("READY");
  for (;;) {
    const r = random();
    const first = Math.floor(random() * a.blocks);
    const count = Math.min(a.blocks - first, 1 + Math.floor(random() * 8));
    if (r < 0.75) {
      const fua = r < 0.1;
      const v = seq++;
      const data = new Uint8Array(count * BLOCK);
      new Uint32Array(data.buffer).fill(v);
      console.log(`W ${first} ${count} ${v}`);
      for (let b = first; b < first + count; b++) [current.set(b, v), changed.add(b)];
      const p = disk.write(first * BLOCK, data, fua);
      if (fua) acknowledge(p as Promise<void>);
      else if (p) await p;
    } else if (r < 0.85) {
      acknowledge(disk.flush());
    } else {
      await Promise.all(inFlight.splice(0));
      await new Promise((s) => setTimeout(s, random() * 4));
    }
  }
}

/** After a crash: reopens the disk and says what each block holds (its write number, 0 = zeros, -1 = torn). */
export async function crashReadBack(a: WorkloadArgs): Promise<number[]> {
  const disk = await open({ ...a, reset: false });
  const all = await disk.read(0, a.blocks * BLOCK);
  const out: number[] = [];
  for (let b = 0; b < a.blocks; b++) {
    const w = new Uint32Array(all.buffer, all.byteOffset + b * BLOCK, BLOCK / 4);
    out.push(w.every((x) => x === w[0]) ? w[0] : -1);
  }
  await disk.close();
  return out;
}
