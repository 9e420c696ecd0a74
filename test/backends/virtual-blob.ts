// A Blob stand-in whose bytes are computed from their position (the conformance pattern), so a
// multi-gigabyte "file" costs nothing; reads can be made to fail and are counted.

import type { BlobLike } from "../../src/backends/file.ts";
import { fillPattern } from "./conformance.ts";

export class VirtualBlob implements BlobLike {
  failing = false;
  slices = 0;
  bytesRead = 0;
  constructor(readonly size: number) {}

  slice(start: number, end: number) {
    return {
      arrayBuffer: async (): Promise<ArrayBuffer> => {
        this.slices++;
        await new Promise((r) => setTimeout(r, 0));
        if (this.failing) throw new Error("NotReadableError: the file changed");
        const s = Math.max(0, Math.min(start, this.size));
        const e = Math.max(s, Math.min(end, this.size));
        this.bytesRead += e - s;
        return fillPattern(s, new Uint8Array(e - s)).buffer;
      },
    };
  }
}
