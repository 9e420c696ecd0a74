// The host's e2fsck over an ext4 image a guest left behind (the guest has no e2fsck, busybox
// only): "clean, or only a journal replay". Used by the guest crash cycle
// (bench/crash/guest-cycle.ts) on the persistent disk as a renderer crash left it.

import { spawnSync } from "node:child_process";

export interface FsckResult {
  /** The superblock said the journal needs replaying (the file system was mounted at the crash). */
  neededRecovery: boolean;
  /** e2fsck's output and status: the journal replay (when needed), then the full read-only check. */
  replay?: { status: number; out: string };
  check: { status: number; out: string };
}

/** Runs one of e2fsprogs' tools (the host's, not the guest's): its status and output. */
function run(cmd: string, args: string[]): { status: number; out: string } {
  const r = spawnSync(cmd, args, { maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * "Clean, or only a journal replay": replays the journal when the superblock asks for it
 * (e2fsck -E journal_only: nothing else is repaired), then `e2fsck -fn` must find nothing.
 */
export function fsck(file: string): FsckResult {
  const features = run("dumpe2fs", ["-h", file]).out;
  const neededRecovery = /^Filesystem features:.*\bneeds_recovery\b/m.test(features);
  const replay = neededRecovery ? run("e2fsck", ["-E", "journal_only", "-y", file]) : undefined;
  return { neededRecovery, replay, check: run("e2fsck", ["-fn", file]) };
}
