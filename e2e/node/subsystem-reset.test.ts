// NVM subsystem resets while the Linux guest writes and verifies: `nvme subsystem-reset` in a loop
// while fio writes and verifies a scratch namespace (crc32c, one run after another): every fio
// run passes, the driver recovers after every reset, data acknowledged before reads back.
//
// CAP.NSSRS is 1: writing "NVMe" to NSSR resets the controller (every register to its reset
// value, queues and guest addresses forgotten, Doorbell Buffer Config's pages too) and sets
// CSTS.NSSRO. The commands in flight are never completed; Linux 6.1 sees that when one times out
// (nvme_timeout finds NSSRO set and resets the controller), then resubmits them.
//
// The controller here offers no Doorbell Buffer Config (shadowDoorbells: false), so this is a
// cold boot, not the kit's state. With shadow doorbells Linux 6.1 cannot recover from a reset
// that loses two or more commands: its reset work starts the I/O queues before it sends Doorbell
// Buffer Config again, and meanwhile writes its (zeroed) shadow doorbells, ringing the MMIO
// doorbell only when its zeroed EventIdx copy says so, which is for the first submission only.
// Seen with the controller's MMIO writes logged: after a reset Linux rang SQ 1's tail at 2 while
// its shadow tail went on to 11, sent no Doorbell Buffer Config, and 4 s later gave the
// controller up ("I/O … QID 1 timeout, disable controller", the root file system with it).
// Upstream fixed it in "nvme-pci: set doorbell config before unquiescing". A controller reset
// the driver asks for (`nvme reset`, e2e/node/pci-reset.test.ts) loses no command and is run
// with shadow doorbells.
//
// PCI_RESET_LOOPS=N sets the loop count (default 3; `npm run soak:reset` runs 50).
// Needs the guest in public/ (bash scripts/build-guest.sh). V86_E2E_ECHO=1 echoes the console.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { Guest } from "../../test/project-guest/guest.ts";
import { resetsUnderFio } from "./reset-loop.ts";
import { note, serialTailOnFailure } from "./support.ts";

const LOOPS = Number(process.env.PCI_RESET_LOOPS ?? 3);
/** Linux notices a subsystem reset by a timed-out command: a short I/O timeout keeps the loop quick (ms). */
const IO_TIMEOUT_MS = 3000;
/** Where the acknowledged writes go on the scratch disk (fio uses the first 4 MiB). */
const WITNESS = 16 << 20;

describe("NVM subsystem resets during I/O (no shadow doorbells, cold boot)", () => {
  let g: Guest;
  serialTailOnFailure(() => g);

  beforeAll(async () => {
    g = await Guest.boot({ memoryMiB: 128, nvme: { shadowDoorbells: false }, extraNamespaces: [{ backend: new MemoryBackend(32 << 20) }], bootTimeoutMs: 600_000 });
    note(`booted in ${(g.bootMs / 1000).toFixed(1)} s`);
    // 1 MiB acknowledged (O_DIRECT, fsync) before any reset; read back after the loop.
    await g.ok(`dd if=/dev/urandom of=/tmp/witness bs=64k count=16 2>/dev/null && dd if=/tmp/witness of=/dev/nvme0n2 bs=64k seek=${WITNESS >> 16} oflag=direct conv=notrunc,fsync 2>/dev/null`);
  }, 660_000);

  afterAll(async () => {
    await g?.stop();
  });

  it(`nvme subsystem-reset ${LOOPS} times while fio writes and verifies: the driver recovers each time, every run passes`, async () => {
    expect(await g.ok("nvme id-ctrl /dev/nvme0 | grep '^oacs'")).toMatch(/oacs\s+: 0xa\b/); // Format, NS Management; no DBBC
    await g.ok(`for q in /sys/block/nvme0n*/queue/io_timeout; do echo ${IO_TIMEOUT_MS} > $q; done`);
    // The programs are read into the page cache first: a readahead cut short by a reset fails
    // (host-aborted, fail-fast), and an exec reading the root file system then failed (126).
    await g.ok("for p in /usr/bin/fio /usr/sbin/nvme /bin/busybox; do cat $p $(LD_TRACE_LOADED_OBJECTS=1 $p | awk '$3 ~ /^\\// {print $3}') >/dev/null; done", 180_000);
    // Each reset is followed by a read that completes only after the driver's recovery, and then
    // by the controller being live again, so that the next one never lands in Linux's own
    // re-initialisation (Linux 6.1 writes NSSR whenever asked; newer kernels serialise it).
    const reset =
      "nvme subsystem-reset /dev/nvme0 && dd if=/dev/nvme0n2 of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null && " +
      'until read s </sys/class/nvme/nvme0/state && [ "$s" = live ]; do sleep 0.1; done';
    const r = await resetsUnderFio((cmd, o) => g.guest.exec(cmd, o), { dev: "/dev/nvme0n2", reset, loops: LOOPS, perResetMs: IO_TIMEOUT_MS * 4 + 10_000 });
    const recovered = r.dmesg.match(/controller is down; will reset: CSTS=0x1[0-9a-f]/g)?.length ?? 0;
    note(`nvme subsystem-reset x${LOOPS} under fio: ${r.seconds.toFixed(1)} s, ${r.fioRuns} fio write+verify runs passed, ${recovered} recoveries in dmesg`);
    expect(recovered).toBe(LOOPS);
    await g.ok(`dd if=/dev/nvme0n2 bs=64k skip=${WITNESS >> 16} count=16 iflag=direct 2>/dev/null | cmp - /tmp/witness`);
  }, LOOPS * (IO_TIMEOUT_MS * 4 + 10_000) + 300_000);
});
