// Downloads the saved state off the page's thread. index.html's first script starts this worker
// before the page's modules have loaded (src/app/resume.ts takes it over): the ~40 MB the browser
// decompresses from the server's Content-Encoding: zstd are gathered into one buffer and their
// CRC-32 taken here, while the page's thread makes the machine, and the buffer is handed over.

import { fetchState } from "./state-fetch.ts";

export interface StateDownloadRequest {
  /** Absolute: a worker resolves URLs against its own script's. */
  url: string;
  /** Its size decompressed (the page manifest's), for a body the browser decompresses. */
  decodedSize?: number;
}

export type StateDownloadMessage =
  | { kind: "progress"; loaded: number; total: number }
  /** `crc`: ReceivedCrc's value over `bytes` (meaningless when they are still a zstd frame). */
  | { kind: "done"; bytes: ArrayBuffer; crc: number }
  | { kind: "failed"; message: string };

/** Progress is posted every this many bytes: the page redraws its bar on each. */
const PROGRESS_STEP = 1 << 20;

const post = (m: StateDownloadMessage, transfer: Transferable[] = []): void => (self as unknown as Worker).postMessage(m, transfer);

self.onmessage = async (ev: MessageEvent<StateDownloadRequest>) => {
  const { url, decodedSize } = ev.data;
  let posted = -PROGRESS_STEP;
  try {
    const { bytes, crc } = await fetchState(url, decodedSize, ({ loaded, total }) => {
      if (loaded - posted < PROGRESS_STEP && loaded !== total) return;
      posted = loaded;
      post({ kind: "progress", loaded, total });
    });
    post({ kind: "done", bytes, crc }, [bytes]);
  } catch (e) {
    post({ kind: "failed", message: e instanceof Error ? e.message : String(e) });
  }
  self.close();
};
