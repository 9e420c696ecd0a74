// Zeroing a guest's free memory before its state is saved: v86 stores only non-zero RAM pages,
// and a Linux guest's free pages still hold what they held (page cache, a decompressed initrd),
// so a state would carry twice what the guest uses.

import type { V86 } from "v86";
import type { ExecOptions, ExecResult } from "./types.ts";

interface V86Balloon {
  /** Starts a free page hinting round; `done` gets the bytes v86 zeroed. */
  Cleanup(done: (zeroedBytes: number) => void): void;
}

/**
 * One free page hinting round of v86's virtio-balloon (the `virtio_balloon` option): the guest's
 * driver hands over its free blocks, v86 zeroes them. Resolves with the bytes zeroed; 0 without
 * the device, or when the guest has no driver for it and the round never ends.
 */
function zeroHintedPages(emulator: V86, timeoutMs = 10_000): Promise<number> {
  const balloon = (emulator as unknown as { v86?: { cpu?: { devices?: { virtio_balloon?: V86Balloon } } } }).v86?.cpu?.devices?.virtio_balloon;
  if (!balloon || typeof balloon.Cleanup !== "function") return Promise.resolve(0);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(0), timeoutMs);
    balloon.Cleanup((zeroed) => {
      clearTimeout(timer);
      resolve(zeroed);
    });
  });
}

/**
 * Drops the guest's page cache and zeroes its free memory: a process takes most free pages (they
 * come zeroed) and exits, then the guest's virtio-balloon driver hints its free blocks, which v86
 * zeroes (this reaches the low zone the process cannot). Without dd, /proc or the balloon driver
 * the state is only bigger.
 */
export async function zeroFreeMemory(emulator: V86, exec: (cmd: string, options?: ExecOptions) => Promise<ExecResult>): Promise<void> {
  await exec(
    "sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; f=0; while read -r k v _; do [ \"$k\" = MemFree: ] && f=$v; done < /proc/meminfo; " +
      "m=$((f / 1024 - 4)); [ $m -gt 0 ] && dd if=/dev/zero of=/dev/null bs=${m}M count=1 2>/dev/null; true",
    { timeoutMs: 60_000 },
  );
  if (await zeroHintedPages(emulator)) await exec("sync"); // lets the driver give the hinted pages back
}
