// Decodes a state file off the page's thread: zstd, the CRC over ~50 MB and the section checks
// take a second or so of CPU, during which the page keeps drawing and loads v86 beside it.
// (decodeStateFile undoes zstd in JS, fzstd: zstd's wasm decoder is 2-3 times faster, but the
// page's layering rule allows it no package besides v86 and uPlot.)

import { decodeStateFile, StateFileError } from "../index.ts";

export type StateWorkerAnswer =
  | { ok: true; result: ReturnType<typeof decodeStateFile>; ms: number }
  | { ok: false; message: string; damaged: boolean };

self.onmessage = (ev: MessageEvent<ArrayBuffer>) => {
  const t0 = performance.now();
  let answer: StateWorkerAnswer;
  let transfer: Transferable[] = [];
  try {
    const result = decodeStateFile(ev.data);
    const o = result.snapshot.overlay;
    transfer = [result.snapshot.machine, o.pageIndex.buffer, o.pageMask.buffer, o.pageData.buffer, o.zeros.buffer] as ArrayBuffer[];
    answer = { ok: true, result, ms: performance.now() - t0 };
  } catch (e) {
    answer = { ok: false, message: e instanceof Error ? e.message : String(e), damaged: e instanceof StateFileError };
  }
  (self as unknown as Worker).postMessage(answer, transfer);
};
