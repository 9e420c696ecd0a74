// What trace-boot and trace-resume share: the image read into memory, and every read of it that
// reaches the image (not the guest's own writes, which the copy-on-write layer answers) noted in
// a boot-trace recorder, then written as a trace that names the image by its date and SHA-256.

import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { BootTraceRecorder } from "../src/backends/boot-trace.ts";
import { MemoryBackend } from "../src/backends/memory.ts";

export interface ImageReads {
  readonly bytes: Uint8Array;
  readonly recorder: BootTraceRecorder;
  /** Every read noted, [offset, length], in order. */
  readonly reads: [number, number][];
  /** Reads are noted only while this is true. */
  recording: boolean;
  /** Writes the trace to `out`; returns its number of ranges. */
  write(out: string): number;
}

/** Reads the image at `path` (or calls `fail`) and starts noting its reads. */
export function imageReads(path: string, fail: (msg: string) => never): ImageReads {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    return fail(`cannot read the image ${path}: ${(e as Error).message}`);
  }
  const size = bytes.byteLength;
  const r: ImageReads = {
    bytes,
    recorder: new BootTraceRecorder(size),
    reads: [],
    recording: true,
    write(out) {
      const trace = r.recorder.trace({ lastModified: statSync(path).mtime.toUTCString(), sha256: createHash("sha256").update(bytes).digest("hex") });
      writeFileSync(out, `${JSON.stringify(trace)}\n`);
      return trace.ranges.length;
    },
  };
  // The guest's disk is a copy-on-write layer over a MemoryBackend of the image (its read() goes
  // through tryRead()); the script boots one guest, so the patch is the script's alone.
  const { tryRead } = MemoryBackend.prototype;
  MemoryBackend.prototype.tryRead = function (offset, dst) {
    if (r.recording && this.byteLength === size) {
      r.recorder.note(offset, dst.length);
      r.reads.push([offset, dst.length]);
    }
    return tryRead.call(this, offset, dst);
  };
  return r;
}
