// The controller on another v86 release (npm run test:v86-oldest: the oldest release of the peer
// range): one Linux boot from the NVMe disk, then what every v86 hook of the adapter does: PCI
// registration and BAR0 MMIO (the driver binds, nvme list), DMA and INTx (O_DIRECT writes read
// back, host-side bytes equal), the timer hook, and save_state/restore_state (get_state/set_state
// carry the controller: snapshot, write, restore, the write is gone and I/O still works).
//
// Runs only with V86_E2E_V86=DIR (the v86 package's directory); the installed v86 has the other
// Node guest tests. About a minute on an idle 2-core machine.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { V86 } from "v86";
import { Guest, V86_UNDER_TEST } from "../../test/project-guest/guest.ts";
import { md5, note, serialTailOnFailure } from "./support.ts";

/** Scratch space appended to the image (namespace 1); the writes go there. */
const APPEND = 4 << 20;

describe.runIf(V86_UNDER_TEST)(`the controller on v86 ${V86_UNDER_TEST?.version ?? "(V86_E2E_V86 not set)"}`, () => {
  let g: Guest;
  let scratch = 0;

  beforeAll(async () => {
    g = await Guest.boot({ serial: "V86REL0001", appendBytes: APPEND, memoryMiB: 128 });
    scratch = (g.disk.byteLength - APPEND) / 512;
    note(`v86 ${V86_UNDER_TEST?.version}: boot to the shell prompt ${(g.bootMs / 1000).toFixed(1)} s`);
  }, 240_000);

  serialTailOnFailure(() => g);

  afterAll(async () => {
    await g?.stop();
  });

  it("runs on that release, not the installed one", async () => {
    const mod = (await import(V86_UNDER_TEST!.entry)) as { V86: unknown };
    expect(V86).toBe(mod.V86);
    expect(g.emulator).toBeInstanceOf(mod.V86 as typeof V86);
  });

  it("Linux binds the controller: nvme list shows namespace 1, the root file system is on it", async () => {
    const list = await g.ok("nvme list");
    expect(list).toMatch(/\/dev\/nvme0n1 .*V86REL0001 .*v86-nvme Virtual NVMe Disk/);
    expect(await g.ok("grep -c '^/dev/nvme0n1p2 / ' /proc/mounts")).toBe("1");
  });

  it("O_DIRECT writes read back, in the guest and on the host", async () => {
    const sum = (await g.ok(`dd if=/dev/urandom of=/tmp/blk bs=64k count=4 2>/dev/null && dd if=/tmp/blk of=/dev/nvme0n1 bs=512 seek=${scratch} oflag=direct conv=fsync 2>/dev/null && md5sum /tmp/blk`)).split(/\s+/)[0];
    const back = (await g.ok(`dd if=/dev/nvme0n1 bs=512 skip=${scratch} count=512 iflag=direct 2>/dev/null | md5sum`)).split(/\s+/)[0];
    expect(back).toBe(sum);
    expect(md5(g.diskBytes(scratch * 512, 256 << 10))).toBe(sum);
    const c = g.counters();
    expect(c.adapter.timerHookCalls).toBeGreaterThan(0);
    expect(c.adapter.raises).toBeGreaterThan(0);
    expect(c.adapter.mmioWrites).toBeGreaterThan(0);
  });

  it("snapshot and restore carry the controller: the machine goes back and I/O goes on", async () => {
    const guest = g.guest;
    await g.ok("sync");
    const snap = await guest.snapshot();
    await g.ok("echo after-snapshot >/root/v86-release; sync");
    await guest.restore(snap);
    const cat = await guest.exec("cat /root/v86-release");
    expect(cat.exitCode).toBe(1);
    // The restored controller still serves the driver's queues.
    expect(await g.ok(`dd if=/dev/nvme0n1 bs=512 skip=${scratch} count=8 iflag=direct 2>/dev/null | wc -c`)).toBe("4096");
    expect(await g.ok("echo restored >/root/v86-release; sync; cat /root/v86-release")).toBe("restored");
  });
});
