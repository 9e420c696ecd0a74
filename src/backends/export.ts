// Taking the disk home: the current contents (base plus every write) as a raw image, streamed
// chunk by chunk so memory stays bounded by one or two chunks whatever the disk's size, with
// progress. The stream is a live view, not a snapshot: pause the guest (or let it sync and
// idle) for a consistent image.

import type { ReadSource } from "./block-backend.ts";
import { normalizeOptionNames } from "./option-names.ts";

export interface ExportOptions {
  /** Bytes read per step, a multiple of 512 (default 1 MiB). */
  chunkSize?: number;
  /** Called after each chunk with bytes done and the disk's size. */
  onProgress?: (done: number, total: number) => void;
  /** @deprecated Use onProgress (this name goes in the next release). */
  onprogress?: (done: number, total: number) => void;
}

/** The disk's bytes as a stream of chunks, read one at a time as the consumer pulls. */
export function exportStream(disk: ReadSource, options: ExportOptions = {}): ReadableStream<Uint8Array> {
  const o = normalizeOptionNames("disk", options, "exportStream");
  const step = o.chunkSize ?? 1024 * 1024;
  if (!Number.isSafeInteger(step) || step < 512 || step % 512 !== 0) throw new Error(`export: chunk size ${step} is not a positive multiple of 512`);
  const total = disk.byteLength;
  let pos = 0;
  let started = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!started) {
          started = true;
          o.onProgress?.(0, total);
        }
        if (pos >= total) {
          controller.close();
          return;
        }
        const len = Math.min(step, total - pos);
        let chunk: Uint8Array = new Uint8Array(len);
        if (!disk.tryRead(pos, chunk)) chunk = await disk.read(pos, len);
        pos += len;
        controller.enqueue(chunk);
        o.onProgress?.(pos, total);
        if (pos >= total) controller.close();
      },
    },
    { highWaterMark: 1 },
  );
}

/** The whole disk as a Blob (browsers keep large Blobs on disk, but every byte is read first). */
export async function exportBlob(disk: ReadSource, o: ExportOptions = {}): Promise<Blob> {
  const parts: Uint8Array<ArrayBuffer>[] = [];
  const reader = exportStream(disk, o).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value as Uint8Array<ArrayBuffer>);
  }
  return new Blob(parts, { type: "application/octet-stream" });
}

export interface SaveOptions extends ExportOptions {
  /** File name offered to the user (default "disk.img"). */
  suggestedName?: string;
  /** Largest disk saved through a Blob download when the browser cannot stream to a file (default 2 GiB). */
  maxBlobBytes?: number;
}

interface SavePickerWindow {
  showSaveFilePicker?: (o: { suggestedName?: string }) => Promise<{ createWritable(): Promise<WritableStream<Uint8Array>> }>;
}

/**
 * Saves the disk as a raw image file in a browser: streamed into a file the user picks where the
 * File System Access API exists (Chromium), else as a Blob download for disks up to maxBlobBytes.
 * Resolves with how it was saved, or "cancelled" when the user closed the file picker.
 */
export async function saveDisk(disk: ReadSource, options: SaveOptions = {}): Promise<"file" | "download" | "cancelled"> {
  const o = normalizeOptionNames("disk", options, "saveDisk");
  const name = o.suggestedName ?? "disk.img";
  const w = globalThis as unknown as SavePickerWindow;
  if (typeof w.showSaveFilePicker === "function") {
    let handle;
    try {
      handle = await w.showSaveFilePicker({ suggestedName: name });
    } catch (e) {
      if ((e as { name?: string }).name === "AbortError") return "cancelled";
      throw e;
    }
    await exportStream(disk, o).pipeTo(await handle.createWritable());
    return "file";
  }
  const limit = o.maxBlobBytes ?? 2 * 1024 ** 3;
  if (disk.byteLength > limit) {
    throw new Error(`export: a ${disk.byteLength}-byte disk is too large to download through memory here; use a browser with the File System Access API (showSaveFilePicker)`);
  }
  const url = URL.createObjectURL(await exportBlob(disk, o));
  try {
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
  } finally {
    // The download has its own reference to the data once started.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
  return "download";
}
