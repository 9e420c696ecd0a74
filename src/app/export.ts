// The page's Export: the current disk (base + every write) as a raw image, streamed chunk by
// chunk with progress, into a file the user picks where the browser can (File System Access
// API), else as a download. Cancellable.

import { exportStream, type ReadSource } from "../index.ts";

/** Largest disk exported as a Blob download when the browser cannot stream into a file. */
const MAX_BLOB_BYTES = 2 * 1024 ** 3;
const CHUNK = 1024 * 1024;

interface SavePicker {
  showSaveFilePicker?: (o: {
    suggestedName?: string;
    types?: { description: string; accept: Record<string, string[]> }[];
  }) => Promise<{ createWritable(): Promise<WritableStream<Uint8Array>> }>;
}

export type ExportResult = "file" | "download" | "cancelled";

/**
 * Exports `disk`. `onProgress(done, total)` after each chunk; `signal` cancels (resolves
 * "cancelled"; a file being written is discarded). `started` is called once the destination is
 * known and the bytes start to flow (the page pauses the guest then).
 */
export async function exportDisk(
  disk: ReadSource,
  o: { name: string; onProgress: (done: number, total: number) => void; signal: AbortSignal; started?: () => void },
): Promise<ExportResult> {
  const w = globalThis as unknown as SavePicker;
  const stream = (): ReadableStream<Uint8Array> => exportStream(disk, { chunkSize: CHUNK, onProgress: o.onProgress });
  if (typeof w.showSaveFilePicker === "function") {
    let handle;
    try {
      handle = await w.showSaveFilePicker({
        suggestedName: o.name,
        types: [{ description: "Raw disk image", accept: { "application/octet-stream": [".img", ".raw", ".bin"] } }],
      });
    } catch (e) {
      if ((e as { name?: string }).name === "AbortError") return "cancelled";
      throw e;
    }
    const writable = await handle.createWritable();
    o.started?.();
    try {
      await stream().pipeTo(writable, { signal: o.signal });
    } catch (e) {
      if (o.signal.aborted) return "cancelled";
      throw e;
    }
    return "file";
  }
  if (disk.byteLength > MAX_BLOB_BYTES) {
    throw new Error(
      `export: this browser cannot stream into a file, and a ${disk.byteLength}-byte disk is too large to download through memory; use a Chromium-based browser`,
    );
  }
  o.started?.();
  const parts: Uint8Array<ArrayBuffer>[] = [];
  const reader = stream().getReader();
  for (;;) {
    if (o.signal.aborted) {
      await reader.cancel();
      return "cancelled";
    }
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value as Uint8Array<ArrayBuffer>);
  }
  const url = URL.createObjectURL(new Blob(parts, { type: "application/octet-stream" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = o.name;
  document.body.append(a);
  a.click();
  a.remove();
  // The download holds its own reference once it started.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return "download";
}
