// Two controllers in one NVM subsystem (two PCI functions, slots 4 and 9, one subsystem NQN)
// sharing their namespaces, seen by Linux 6.1's native multipath (CONFIG_NVME_MULTIPATH=y): one
// nvme0n1 (the root file system, booted by SeaBIOS from the first controller) and one nvme0n2 (a
// scratch namespace in memory), each with a path through either controller. With the
// round-robin I/O policy writes go through both; they go on, and every acknowledged block reads
// back, while one controller is reset and while its PCI function is removed and rescanned; a
// snapshot of the machine restores both controllers.
// One cold boot, scenarios in order.
//
// Needs the guest in public/ (bash scripts/build-guest.sh). V86_E2E_ECHO=1 echoes the console.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { Guest } from "../../test/project-guest/guest.ts";
import { note, serialTailOnFailure } from "./support.ts";

const SCRATCH = 32 << 20;
const SUBSYS = "/sys/class/nvme-subsystem/nvme-subsys0";

describe("two controllers sharing namespaces under Linux native multipath", () => {
  let g: Guest;
  serialTailOnFailure(() => g);
  const scratch = new MemoryBackend(SCRATCH);

  beforeAll(async () => {
    g = await Guest.boot({ memoryMiB: 128, nvme: { controllers: 2 }, extraNamespaces: [{ backend: scratch }], bootTimeoutMs: 600_000 });
    note(`booted in ${(g.bootMs / 1000).toFixed(1)} s`);
    // I/O through both paths in turn (the default, numa, keeps to one).
    await g.ok(`echo round-robin > ${SUBSYS}/iopolicy`);
  }, 660_000);

  afterAll(async () => {
    await g?.stop();
  });

  it("shows one subsystem with two controllers and one disk per namespace, each with two paths", async () => {
    const [a, b] = g.guest.nvmeControllers;
    expect([a.controller.controllerId, b.controller.controllerId]).toEqual([1, 2]);
    const subsys = await g.ok("nvme list-subsys");
    note(subsys);
    expect(subsys.match(/nvme-subsys\d+/g)).toEqual(["nvme-subsys0"]);
    expect(subsys).toMatch(/NQN=nqn\.2024-01\.io\.github\.v86-nvme:V86E2E0001/);
    expect(subsys.match(/ nvme[01] pcie 0000:00:0[49]\.0 live/g)?.length).toBe(2);
    const ctrls = await g.ok(`ls ${SUBSYS} | grep -E '^nvme[0-9]+$'; cat /sys/class/nvme/nvme0/cntlid /sys/class/nvme/nvme1/cntlid`);
    expect(ctrls.split("\n")).toEqual(["nvme0", "nvme1", "1", "2"]);
    // The disks nvme0n1 and nvme0n2, each over hidden paths through controller 0 and 1.
    const disks = await g.ok("ls /sys/block | grep nvme | tr '\\n' ' '");
    note(disks);
    expect(disks).toBe("nvme0c0n1 nvme0c0n2 nvme0c1n1 nvme0c1n2 nvme0n1 nvme0n2 ");
    expect(await g.ok("findmnt -n -o SOURCE / || awk '$2 == \"/\" {print $1}' /proc/mounts")).toMatch(/nvme0n1p2/);
    const idns = await g.ok("nvme id-ns /dev/nvme0n2 | grep -E '^(nmic|nguid|eui64)'");
    expect(idns).toMatch(/nmic\s+: (0x)?1\b/);
    const idctrl = await g.ok("nvme id-ctrl /dev/nvme1 | grep -E '^(cmic|cntlid|subnqn)'");
    expect(idctrl).toMatch(/cmic\s+: (0x)?2\b/);
    expect(idctrl).toMatch(/cntlid\s+: (0x)?2\b/);
  });

  /**
   * Writes CHUNKS of 64 KiB with O_DIRECT onto nvme0n2 in the background while `disturb` runs,
   * then reads them all back: every write must have succeeded and read back.
   */
  async function writesGoOnWhile(disturb: string, chunks = 128): Promise<{ seconds: number; viaSecond: number }> {
    const second = g.guest.nvmeControllers[1].controller;
    const before = second.counters.cqesPosted ?? 0;
    await g.ok(`dd if=/dev/urandom of=/tmp/data bs=64k count=${chunks} 2>/dev/null; rm -f /tmp/w.fail; dmesg -c >/dev/null`);
    const t0 = performance.now();
    await g.ok(
      `( for i in $(seq 0 ${chunks - 1}); do dd if=/tmp/data of=/dev/nvme0n2 bs=64k skip=$i seek=$i count=1 oflag=direct conv=notrunc 2>/dev/null || echo "write $i failed" >>/tmp/w.fail; done ) & ` +
        `sleep 1; ${disturb}; wait`,
      300_000,
    );
    const seconds = (performance.now() - t0) / 1000;
    const failed = await g.run("cat /tmp/w.fail");
    expect(failed.status === 0 ? failed.out : "", (await g.run("dmesg | tail -30")).out).toBe("");
    await g.ok(`dd if=/dev/nvme0n2 bs=64k count=${chunks} iflag=direct 2>/dev/null | cmp - /tmp/data`);
    return { seconds, viaSecond: (second.counters.cqesPosted ?? 0) - before };
  }

  it("goes on writing while the second controller is reset (nvme reset /dev/nvme1)", async () => {
    const r = await writesGoOnWhile("for i in 1 2 3; do nvme reset /dev/nvme1 || echo reset $i failed >>/tmp/w.fail; sleep 0.5; done");
    note(`8 MiB of O_DIRECT writes across 3 resets of nvme1: ${r.seconds.toFixed(1)} s, ${r.viaSecond} completions on the second controller`);
    expect(await g.ok("cat /sys/class/nvme/nvme1/state /sys/class/nvme/nvme0/state")).toBe("live\nlive");
    expect(await g.ok("dmesg | grep -c 'resetting controller' || true")).toBe("3");
  }, 360_000);

  it("saves and restores both controllers with the machine: both paths live again, writes through both", async () => {
    await g.ok("echo one > /root/marker; sync");
    const snap = await g.guest.snapshot();
    await g.ok("echo two > /root/marker; sync; nvme reset /dev/nvme1");
    await g.guest.restore(snap);
    expect(await g.ok("cat /root/marker /sys/class/nvme/nvme0/state /sys/class/nvme/nvme1/state")).toBe("one\nlive\nlive");
    const r = await writesGoOnWhile("true", 32);
    expect(r.viaSecond).toBeGreaterThan(0);
  });

  it("goes on writing while the second controller's PCI function is removed, and the path comes back after a rescan", async () => {
    const bdf = (await g.ok("basename $(readlink /sys/class/nvme/nvme1/device)")).trim();
    expect(bdf).toBe("0000:00:09.0");
    const r = await writesGoOnWhile(`echo 1 > /sys/bus/pci/devices/${bdf}/remove; sleep 2; ls ${SUBSYS} | grep -cE '^nvme[0-9]+$' >/tmp/ctrls; echo 1 > /sys/bus/pci/rescan`);
    expect(await g.ok("cat /tmp/ctrls")).toBe("1"); // one path while the function was gone
    await g.ok(`i=0; while [ $(ls /sys/block | grep -c '^nvme0c[0-9]*n2$') -lt 2 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`);
    const paths = await g.ok(`ls ${SUBSYS} | grep -E '^nvme[0-9]+$' | while read c; do cat /sys/class/nvme/$c/state; done; ls /sys/block | grep -c '^nvme0c[0-9]*n2$'`);
    note(`removed ${bdf} under writes (${r.seconds.toFixed(1)} s); after the rescan: ${paths.replace(/\n/g, " ")}`);
    expect(paths).toBe("live\nlive\n2");
    // Writes through the path that came back (round robin uses both again).
    const again = await writesGoOnWhile("true", 32);
    expect(again.viaSecond).toBeGreaterThan(0);
  }, 360_000);
});
