// The persistent disk through renderer crashes in Chromium, on the real Origin Private File
// System: a page runs writes, FUA writes, zeroing and flushes (bench/crash/page-workload.ts),
// its renderer is crashed (CDP Page.crash) at a seeded moment, a new page reopens the same disk,
// and every block must read as what the last acknowledged flush or FUA write covered, or as a
// newer write or zeroing it was given after (never older data, never a torn block). Five crashes
// in a row on one empty disk and one overlay; `npm run bench:crash` runs a hundred and more.

import { expect, test } from "@playwright/test";
import { crashOnce } from "../../bench/crash/cycle.ts";
import { BASE_TAG } from "../../bench/crash/page-workload.ts";

const BLOCKS = 256;

test("a persistent disk keeps every acknowledged write through five renderer crashes", async ({ context, baseURL }) => {
  const state = { plain: new Array<number>(BLOCKS).fill(0), overlay: new Array<number>(BLOCKS).fill(BASE_TAG) };
  let seq = 1;
  const rows: string[] = [];
  for (let seed = 1; seed <= 5; seed++) {
    const overlay = seed % 2 === 0;
    const before = overlay ? state.overlay : state.plain;
    const name = overlay ? "e2e-crash-overlay" : "e2e-crash-plain";
    const delay = 150 + ((seed * 7919) % 900);
    const fresh = seed <= 2;
    const o = await crashOnce(context, baseURL!, { name, blocks: BLOCKS, seed, overlay, firstSeq: seq, reset: fresh }, delay, before);
    rows.push(`seed ${seed} (${overlay ? "overlay" : "empty disk"}, crash at ${delay} ms): ${o.writes} writes, ${o.acks} acks; ${o.acked} blocks as acknowledged, ${o.newer} newer`);
    expect(o.broken.slice(0, 10), rows.at(-1)).toEqual([]);
    expect(o.writes).toBeGreaterThan(0);
    if (overlay) state.overlay = o.after;
    else state.plain = o.after;
    seq += o.writes + 1000;
  }
  console.log(rows.join("\n"));
});
