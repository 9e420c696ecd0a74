// Decodes a state file off the page's thread: zstd (with the decoder inside v86's wasm, handed
// over compiled), the CRC over ~40 MB and the section checks, while the page keeps drawing.

import { decodeStateFile, StateFileError, v86Zstd } from "../index.ts";

export interface StateWorkerRequest {
  bytes: ArrayBuffer;
  /** v86's compiled wasm (its zstd decoder); without it the JavaScript decoder is used. */
  v86?: WebAssembly.Module;
}

export type StateWorkerAnswer =
  | { ok: true; result: ReturnType<typeof decodeStateFile>; ms: number }
  | { ok: false; message: string; damaged: boolean };

self.onmessage = (ev: MessageEvent<StateWorkerRequest>) => {
  const t0 = performance.now();
  let answer: StateWorkerAnswer;
  let transfer: Transferable[] = [];
  try {
    const { bytes, v86 } = ev.data;
    const result = decodeStateFile(bytes, { zstd: v86 ? v86Zstd(v86) : undefined });
    const o = result.snapshot.overlay;
    // The machine section is a view of the decoder's memory, which cannot be transferred: one copy.
    const m = result.snapshot.machine;
    const machine = m instanceof ArrayBuffer ? m : m.slice().buffer;
    transfer = [machine, o.pageIndex.buffer, o.pageMask.buffer, o.pageData.buffer, o.zeros.buffer] as ArrayBuffer[];
    answer = { ok: true, result: { ...result, snapshot: { ...result.snapshot, machine } }, ms: performance.now() - t0 };
  } catch (e) {
    answer = { ok: false, message: e instanceof Error ? e.message : String(e), damaged: e instanceof StateFileError };
  }
  (self as unknown as Worker).postMessage(answer, transfer);
};
