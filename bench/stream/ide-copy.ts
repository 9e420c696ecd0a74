// The same guest image for v86's own IDE disk: a copy whose syslinux.cfg boots the "ide" label,
// for the benchmarks that compare v86's disk with the NVMe one (bench/stream, bench/resume).

import { closeSync, copyFileSync, openSync, readSync, statSync, writeSync } from "node:fs";
import { IDE_LABEL_SPAN, selectIdeLabel } from "../../test/project-guest/ide-label.ts";

/** A copy of `src` whose syslinux.cfg boots the "ide" label (same length: patched in place). */
export function ideCopy(src: string, dst: string): void {
  copyFileSync(src, dst);
  const head = Buffer.alloc(Math.min(statSync(dst).size, IDE_LABEL_SPAN));
  const fd = openSync(dst, "r+");
  try {
    readSync(fd, head, 0, head.length, 0);
    try {
      selectIdeLabel(head);
    } catch (e) {
      throw new Error(`${src}: ${e instanceof Error ? e.message : String(e)}`);
    }
    writeSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
}
