// The demo page's persistent disk as the guest left it, checked on the host: a blank page of the
// same origin opens the disk the page would boot (localStorage's choice, src/app/disk.ts), sends
// the blocks of the root partition that the disk holds itself (written or zeroed; the rest still
// reads the image), and Node lays them over the image's partition in a file for e2fsck and
// debugfs. The guest has no e2fsck (busybox only), and a boot would replay the journal first.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import type { Page } from "@playwright/test";

export const IMAGE_FILE = "public/guest/disk.img";

/** Partition `n` (1-4) of an MBR image: byte offset and length. */
export function mbrPartition(image: string, n: number): { offset: number; bytes: number } {
  const fd = openSync(image, "r");
  const mbr = Buffer.alloc(512);
  readSync(fd, mbr, 0, 512, 0);
  closeSync(fd);
  const e = 0x1be + (n - 1) * 16;
  return { offset: mbr.readUInt32LE(e + 8) * 512, bytes: mbr.readUInt32LE(e + 12) * 512 };
}

/** A run the disk holds itself, relative to the start of the range read: bytes, or zeros. */
type Run = { at: number; b64?: string; zeros?: number };

/**
 * Reads what the persistent disk holds in [offset, offset + bytes) from a page with no guest (the
 * app's own disk opening). Throws "open elsewhere" while a crashed renderer still holds the files.
 */
export async function persistentRuns(page: Page, offset: number, bytes: number): Promise<{ runs: Run[]; stored: number; name: string }> {
  return page.evaluate(
    async ([offset, bytes]) => {
      const path = "/src/app/disk.ts";
      const { loadChoice, openChosenDisk } = await import(/* @vite-ignore */ path);
      const quiet = { progress() {}, copied() {}, status() {} };
      const disk = await openChosenDisk(loadChoice(), undefined, quiet);
      const opfs = disk.opfs!;
      try {
        const bs: number = opfs.blockSize;
        const runs: { at: number; b64?: string; zeros?: number }[] = [];
        const spans: [number, number, number][] = [];
        opfs.map.runs(offset / bs, bytes / bs, (src: number, start: number, n: number) => spans.push([src, start, n]));
        let stored = 0;
        for (const [src, start, n] of spans) {
          if (src === 0) continue; // FROM_BASE: the image's bytes
          const at = start * bs - offset;
          if (src === 2) {
            runs.push({ at, zeros: n * bs });
            continue;
          }
          for (let done = 0; done < n * bs; done += 1 << 20) {
            const len = Math.min(1 << 20, n * bs - done);
            const data: Uint8Array = await opfs.read(start * bs + done, len);
            let s = "";
            for (let i = 0; i < data.length; i += 0x8000) s += String.fromCharCode(...data.subarray(i, i + 0x8000));
            runs.push({ at: at + done, b64: btoa(s) });
            stored += len;
          }
        }
        return { runs, stored, name: disk.persistentName ?? "" };
      } finally {
        await disk.close();
      }
    },
    [offset, bytes] as const,
  );
}

/** Writes the image's partition with the runs laid over it to `file`. */
export function writePartition(file: string, part: { offset: number; bytes: number }, runs: Run[]): void {
  const fd = openSync(IMAGE_FILE, "r");
  const buf = Buffer.alloc(part.bytes);
  readSync(fd, buf, 0, part.bytes, part.offset);
  closeSync(fd);
  for (const r of runs) {
    if (r.zeros) buf.fill(0, r.at, r.at + r.zeros);
    else if (r.b64) Buffer.from(r.b64, "base64").copy(buf, r.at);
  }
  const out = openSync(file, "w");
  writeSync(out, buf);
  closeSync(out);
}

export interface FsckResult {
  /** The superblock said the journal needs replaying (the file system was mounted at the crash). */
  neededRecovery: boolean;
  /** e2fsck's output and status: the journal replay (when needed), then the full read-only check. */
  replay?: { status: number; out: string };
  check: { status: number; out: string };
}

/** Runs one of e2fsprogs' tools (the host's, not the guest's): its status, stdout and stderr. */
function tool(cmd: string, args: string[]): { status: number; stdout: Buffer; out: string } {
  const r = spawnSync(cmd, args, { maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout, out: `${r.stdout}${r.stderr}`.trim() };
}
const run = (cmd: string, args: string[]) => {
  const { status, out } = tool(cmd, args);
  return { status, out };
};

/**
 * "Clean, or only a journal replay": replays the journal when the superblock asks for it
 * (e2fsck -E journal_only: nothing else is repaired), then `e2fsck -fn` must find nothing.
 */
export function fsck(file: string): FsckResult {
  const features = tool("dumpe2fs", ["-h", file]).stdout.toString();
  const neededRecovery = /^Filesystem features:.*\bneeds_recovery\b/m.test(features);
  const replay = neededRecovery ? run("e2fsck", ["-E", "journal_only", "-y", file]) : undefined;
  return { neededRecovery, replay, check: run("e2fsck", ["-fn", file]) };
}

/** md5 of a file in the ext4 image (debugfs), or undefined when it is not there. */
export function md5In(file: string, path: string): string | undefined {
  const stat = run("debugfs", ["-R", `stat ${path}`, file]);
  if (stat.status !== 0 || /File not found/.test(stat.out)) return undefined;
  return createHash("md5").update(tool("debugfs", ["-R", `cat ${path}`, file]).stdout).digest("hex");
}
