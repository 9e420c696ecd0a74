// A zoned namespace (Zoned Namespace Command Set) seen by a real Linux guest (Debian's 6.1 kernel,
// CONFIG_BLK_DEV_ZONED=y) and driven with nvme-cli 2.3's zns plugin and fio's zonemode=zbd: Linux
// takes the controller's I/O command sets (CC.CSS 110b), sees a host-managed zoned block device,
// reports, opens, finishes and resets zones, appends, and fio writes every zone sequentially and
// verifies it. util-linux's blkzone is not in the guest image (busybox has none), so the block
// layer's own zone report is read through sysfs and fio instead. The guest kit's guest, resumed;
// the zoned namespace is added to the running controller (Linux rescans on the Namespace
// Attribute Changed event). Scenarios in order.
//
// Needs the guest kit (npm run build:kit). V86_E2E_ECHO=1 echoes the console.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { Guest } from "../../test/project-guest/guest.ts";
import { fields, note, serialTailOnFailure } from "./support.ts";

const ZONE_BLOCKS = 8192; // 4 MiB zones of 512-byte blocks
const ZONES = 16;

describe("a zoned namespace in a running Linux guest", () => {
  let g: Guest;
  serialTailOnFailure(() => g);

  beforeAll(async () => {
    const zoned = { zoneSizeBlocks: ZONE_BLOCKS, zoneCapacityBlocks: ZONE_BLOCKS - 2048, maxOpen: 6, maxActive: 8 };
    g = await Guest.resumeKit();
    note(`kit state resumed in ${(g.bootMs / 1000).toFixed(1)} s`);
    expect(g.nvme.addNamespace({ backend: new MemoryBackend(ZONES * ZONE_BLOCKS * 512), zoned })).toBe(2);
    await g.ok("i=0; while [ ! -e /sys/block/nvme0n2/queue/zoned ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; [ -e /sys/block/nvme0n2/queue/zoned ]");
  });

  afterAll(async () => {
    await g?.stop();
  });

  it("is a host-managed zoned block device with the zone size, count and limits configured", async () => {
    // Linux enabled every I/O command set (CC.CSS 110b), which it does only on CAP.CSS bit 6.
    expect((g.nvme.controller.mmioRead32(0x14) >>> 4) & 7).toBe(6);
    const q = "/sys/block/nvme0n2/queue";
    const sys = await g.ok(`for f in zoned chunk_sectors nr_zones max_open_zones max_active_zones zone_append_max_bytes; do echo "$f: $(cat ${q}/$f)"; done`);
    note(sys);
    expect(fields(sys)).toEqual({
      zoned: "host-managed", chunk_sectors: String(ZONE_BLOCKS), nr_zones: String(ZONES), max_open_zones: "6", max_active_zones: "8", zone_append_max_bytes: String(512 * 1024),
    });
    expect(await g.ok("cat /sys/block/nvme0n1/queue/zoned")).toBe("none");
    const idns = fields(await g.ok("nvme zns id-ns /dev/nvme0n2"));
    expect([idns.zoc, idns.mar, idns.mor]).toEqual(["0", "0x7", "0x5"]);
    expect(await g.ok("nvme zns id-ns /dev/nvme0n2")).toMatch(/lbafe\s+0: zsze:0x2000 zdes:0 \(in use\)/);
    expect(fields(await g.ok("nvme zns id-ctrl /dev/nvme0")).zasl).toBe("0");
  });

  it("reports, opens, closes, finishes and resets zones with nvme zns, and appends", async () => {
    const list = await g.ok("nvme zns report-zones /dev/nvme0n2");
    expect(list).toMatch(/nr_zones: 16/);
    expect(list.match(/SLBA:/g)?.length).toBe(ZONES);
    // nvme-cli 2.3 prints the state byte (state << 4: 1 empty, 3 explicitly opened, 4 closed, e full) and the type (2: sequential write required).
    expect(list).toMatch(/SLBA: 0x2000\s+WP: 0x2000\s+Cap: 0x1800\s+State: 0x10\s+Type: 0x2\s/);

    await g.ok("nvme zns open-zone /dev/nvme0n2 --start-lba=0x4000");
    expect(await g.ok("nvme zns report-zones /dev/nvme0n2 --state=3")).toMatch(/nr_zones: 1\n.*SLBA: 0x4000\s+WP: 0x4000\s+Cap: 0x1800\s+State: 0x30/);
    const appended = await g.ok("dd if=/dev/urandom of=/tmp/a bs=4k count=2 2>/dev/null && nvme zns zone-append /dev/nvme0n2 --zslba=0x4000 --data-size=8192 --data=/tmp/a");
    expect(appended).toMatch(/Success appended data to LBA (0x)?4000\b/);
    const again = await g.ok("nvme zns zone-append /dev/nvme0n2 --zslba=0x4000 --data-size=8192 --data=/tmp/a");
    expect(again).toMatch(/Success appended data to LBA (0x)?4010\b/);
    const want = (await g.ok("md5sum </tmp/a")).split(/\s+/)[0];
    expect((await g.ok("dd if=/dev/nvme0n2 bs=512 skip=$((0x4010)) count=16 iflag=direct 2>/dev/null | md5sum")).split(/\s+/)[0]).toBe(want);
    await g.ok("nvme zns close-zone /dev/nvme0n2 --start-lba=0x4000");
    expect(await g.ok("nvme zns report-zones /dev/nvme0n2 --state=4")).toMatch(/SLBA: 0x4000\s+WP: 0x4020\s+Cap: 0x1800\s+State: 0x40/);
    await g.ok("nvme zns finish-zone /dev/nvme0n2 --start-lba=0x4000");
    expect(await g.ok("nvme zns report-zones /dev/nvme0n2 --state=5")).toMatch(/SLBA: 0x4000 .*State: 0xe0/);
    // A write to a full zone fails with the zone's status, as the kernel logs it.
    expect((await g.run("nvme write /dev/nvme0n2 --start-block=0x4020 --block-count=0 --data-size=512 --data=/tmp/a")).out).toMatch(/ZONE_IS_FULL|Zone Is Full|1b9\b/i);
    await g.ok("nvme zns reset-zone /dev/nvme0n2 --start-lba=0x4000");
    expect(await g.ok("nvme zns report-zones /dev/nvme0n2 --state=1")).toMatch(/nr_zones: 16/);
    // Writing anywhere but the write pointer is a Zone Invalid Write.
    expect((await g.run("nvme write /dev/nvme0n2 --start-block=0x4001 --block-count=0 --data-size=512 --data=/tmp/a")).out).toMatch(/ZONE_INVALID_WRITE|Zone Invalid Write|1bc\b/i);
  });

  it("takes fio's zonemode=zbd sequential writes over every zone and verifies them", async () => {
    const fio = await g.run(
      "fio --name=zbd --filename=/dev/nvme0n2 --direct=1 --ioengine=psync --zonemode=zbd --rw=write --bs=64k --size=64M --max_open_zones=4 --verify=crc32c --do_verify=1 --output-format=terse 2>&1",
      600_000,
    );
    note(fio.out.slice(-600));
    expect(fio.status, fio.out).toBe(0);
    expect(fio.out).not.toMatch(/verify: bad|error=|fio: .*failed/i);
    const full = await g.ok("nvme zns report-zones /dev/nvme0n2 --state=5");
    expect(Number(/nr_zones: (\d+)/.exec(full)?.[1])).toBeGreaterThan(0);
    note(`zones full after fio: ${/nr_zones: (\d+)/.exec(full)?.[1]}; dmesg:\n${await g.ok("dmesg | grep -i -E 'nvme|zone' | tail -20")}`);
  });

  it("closes open zones at a controller reset (nvme reset), and puts zone states back with a snapshot", async () => {
    await g.ok("nvme zns reset-zone /dev/nvme0n2 --select-all");
    await g.ok("nvme write /dev/nvme0n2 --start-block=0 --block-count=0 --data-size=512 --data=/tmp/a");
    await g.ok("nvme zns open-zone /dev/nvme0n2 --start-lba=0x2000");
    const states = async () => (await g.ok("nvme zns report-zones /dev/nvme0n2")).split("\n").filter((l) => /SLBA: (0|0x2000) /.test(l)).map((l) => /WP: (\S+) .*State: (\S+)/.exec(l)!.slice(1).join(" "));
    expect(await states()).toEqual(["0x1 0x20", "0x2000 0x30"]);
    await g.ok("nvme reset /dev/nvme0");
    await g.ok("for i in $(seq 50); do [ -e /dev/nvme0n2 ] && break; sleep 0.2; done; [ -e /dev/nvme0n2 ]");
    // The implicitly opened zone is closed, the explicitly opened one nothing was written to is empty.
    expect(await states()).toEqual(["0x1 0x40", "0x2000 0x10"]);
    const snap = await g.guest.snapshot();
    await g.ok("nvme zns reset-zone /dev/nvme0n2 --select-all");
    expect(await states()).toEqual(["0 0x10", "0x2000 0x10"]);
    await g.guest.restore(snap);
    expect(await states()).toEqual(["0x1 0x40", "0x2000 0x10"]);
  });

  it("creates a zoned namespace with nvme create-ns --csi=2, the controller choosing its zones", async () => {
    expect(await g.ok("nvme create-ns /dev/nvme0 --nsze=32768 --ncap=32768 --flbas=0 --csi=2")).toMatch(/create-ns: Success, created nsid:3/);
    await g.ok("nvme attach-ns /dev/nvme0 --namespace-id=3 --controllers=1");
    await g.ok("for i in $(seq 100); do [ -e /sys/block/nvme0n3/queue/zoned ] && break; sleep 0.2; done");
    const sys = fields(await g.ok("for f in zoned chunk_sectors nr_zones; do echo \"$f: $(cat /sys/block/nvme0n3/queue/$f)\"; done"));
    expect(sys).toEqual({ zoned: "host-managed", chunk_sectors: "8192", nr_zones: "4" });
    expect(await g.ok("nvme zns report-zones /dev/nvme0n3")).toMatch(/nr_zones: 4/);
  });

  it("has no blkzone in the guest image (util-linux is not installed)", async () => {
    expect((await g.run("command -v blkzone")).status).not.toBe(0);
  });
});
