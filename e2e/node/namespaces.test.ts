// Namespaces managed from a running Linux guest with nvme-cli 2.3 (create-ns, attach-ns, list-ns,
// id-ns, detach-ns, delete-ns, the capacity figures), and namespaces the host adds and removes
// while the guest runs, which Linux picks up through the Namespace Attribute Changed notice
// alone (no `nvme ns-rescan`), and namespace 1 (the image) deleted by the guest giving its capacity
// back. One boot with the root file system on v86's IDE disk (namespace 1 goes), scenarios in order.
//
// Needs the guest in public/ (bash scripts/build-guest.sh). V86_E2E_ECHO=1 echoes the console.

import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { Guest } from "../../test/project-guest/guest.ts";
import { fields, note } from "./support.ts";

const MiB = 1 << 20;
const GUEST_CAPACITY = 256 * MiB;

/** Runs `cmd` in the guest until its output matches (or no longer matches) `re`; returns the output. */
async function waitFor(g: Guest, cmd: string, re: RegExp, present: boolean, timeoutMs = 30_000): Promise<string> {
  const t0 = performance.now();
  for (;;) {
    const { out } = await g.run(cmd);
    if (re.test(out) === present) return out;
    if (performance.now() - t0 > timeoutMs) throw new Error(`"${cmd}" still ${present ? "lacks" : "shows"} ${re} after ${timeoutMs} ms:\n${out}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("namespaces in a running Linux guest", () => {
  let g: Guest;

  beforeAll(async () => {
    g = await Guest.boot({ memoryMiB: 128, ide: true, label: "ide", nvme: { guestCapacity: GUEST_CAPACITY }, bootTimeoutMs: 600_000 });
    note(`booted in ${(g.bootMs / 1000).toFixed(1)} s`);
  });

  afterAll(async () => {
    await g?.stop();
  });

  it("advertises namespace management, NN and the capacity figures", async () => {
    const id = fields(await g.ok("nvme id-ctrl /dev/nvme0"), true);
    const image = g.disk.byteLength;
    expect(Number(id.nn)).toBe(32);
    expect(Number(id.oacs) & 0x8).toBe(0x8);
    expect(Number(id.tnvmcap)).toBe(image + GUEST_CAPACITY);
    expect(Number(id.unvmcap)).toBe(GUEST_CAPACITY);
    expect(Number(id.cntlid)).toBe(1);
  });

  it("creates, attaches, uses, detaches and deletes a namespace with nvme-cli", async () => {
    const created = await g.ok("nvme create-ns /dev/nvme0 --nsze=32768 --ncap=32768 --flbas=0");
    expect(created).toMatch(/create-ns: Success, created nsid:2/);
    expect(Number(fields(await g.ok("nvme id-ctrl /dev/nvme0"), true).unvmcap)).toBe(GUEST_CAPACITY - 16 * MiB);
    // Allocated but not attached: listed with --all only, no block device.
    expect(await g.ok("nvme list-ns /dev/nvme0 --all")).toMatch(/\[\s*1\]:0x2/);
    expect(await g.ok("nvme list-ns /dev/nvme0")).not.toMatch(/0x2/);
    expect((await g.run("ls /dev/nvme0n2")).status).not.toBe(0);

    expect(await g.ok("nvme attach-ns /dev/nvme0 --namespace-id=2 --controllers=1")).toMatch(/attach-ns: Success, nsid:2/);
    await waitFor(g, "cat /sys/block/nvme0n2/size", /^32768$/, true);
    expect(await g.ok("nvme list-ns /dev/nvme0")).toMatch(/\[\s*1\]:0x2/);
    const ns = fields(await g.ok("nvme id-ns /dev/nvme0 --namespace-id=2"), true);
    expect([Number(ns.nsze), Number(ns.ncap), Number(ns.nvmcap)]).toEqual([32768, 32768, 16 * MiB]);

    await g.ok("dd if=/dev/urandom of=/tmp/pat bs=64k count=16 2>/dev/null");
    await g.ok("dd if=/tmp/pat of=/dev/nvme0n2 bs=64k seek=3 oflag=direct 2>/dev/null");
    const want = (await g.ok("md5sum </tmp/pat")).split(/\s+/)[0];
    const got = (await g.ok("dd if=/dev/nvme0n2 bs=64k skip=3 count=16 iflag=direct 2>/dev/null | md5sum")).split(/\s+/)[0];
    expect(got).toBe(want);

    // Refusals with the spec's statuses, as nvme-cli reports them.
    expect((await g.run("nvme attach-ns /dev/nvme0 --namespace-id=2 --controllers=1")).out).toMatch(/NS_ALREADY_ATTACHED|already attached/i);
    expect((await g.run("nvme create-ns /dev/nvme0 --nsze=1073741824 --ncap=1073741824 --flbas=0")).out).toMatch(/NS_INSUFFICIENT_CAP|insufficient capacity/i);

    expect(await g.ok("nvme detach-ns /dev/nvme0 --namespace-id=2 --controllers=1")).toMatch(/detach-ns: Success, nsid:2/);
    await waitFor(g, "ls /sys/block", /nvme0n2/, false);
    expect((await g.run("nvme detach-ns /dev/nvme0 --namespace-id=2 --controllers=1")).out).toMatch(/NS_NOT_ATTACHED|not attached/i);
    // Detached, the data stays: attach again and read it back.
    await g.ok("nvme attach-ns /dev/nvme0 --namespace-id=2 --controllers=1");
    await waitFor(g, "ls /sys/block", /nvme0n2/, true);
    expect((await g.ok("dd if=/dev/nvme0n2 bs=64k skip=3 count=16 iflag=direct 2>/dev/null | md5sum")).split(/\s+/)[0]).toBe(want);

    expect(await g.ok("nvme delete-ns /dev/nvme0 --namespace-id=2")).toMatch(/delete-ns: Success, deleted nsid:2/);
    await waitFor(g, "ls /sys/block", /nvme0n2/, false);
    expect(await g.ok("nvme list-ns /dev/nvme0 --all")).not.toMatch(/0x2/);
    expect(Number(fields(await g.ok("nvme id-ctrl /dev/nvme0"), true).unvmcap)).toBe(GUEST_CAPACITY);
  });

  it("shows a namespace the host adds as /dev/nvme0n2 without a rescan, and drops it when the host removes it", async () => {
    const bytes = new Uint8Array(4 * MiB);
    for (let i = 0; i < bytes.length; i += 4) new DataView(bytes.buffer).setUint32(i, Math.imul(i, 2654435761) >>> 0, true);
    const md5 = createHash("md5").update(bytes.subarray(0, MiB)).digest("hex");
    await g.ok("dmesg -c >/dev/null");
    const aersBefore = g.counters().controller.aersOutstanding;
    const nsid = g.nvme.addNamespace({ backend: MemoryBackend.fromBuffer(bytes) });
    expect(nsid).toBe(2);
    await waitFor(g, "cat /sys/block/nvme0n2/size", /^8192$/, true);
    const seen = (await g.ok("dd if=/dev/nvme0n2 bs=1M count=1 iflag=direct 2>/dev/null | md5sum")).split(/\s+/)[0];
    expect(seen).toBe(md5);
    // Linux re-armed its Asynchronous Event Request after the notice.
    expect(g.counters().controller.aersOutstanding).toBe(aersBefore);
    note(`dmesg after the host added namespace 2:\n${await g.ok("dmesg")}`);

    expect(g.nvme.namespaces().map((n) => [n.nsid, n.attached, n.origin])).toEqual([[1, true, "host"], [2, true, "host"]]);
    await g.nvme.removeNamespace(nsid);
    await waitFor(g, "ls /sys/block", /nvme0n2/, false);
    expect(await g.ok("nvme list-ns /dev/nvme0 --all")).not.toMatch(/0x2/);
  });

  it("gives namespace 1's capacity back when the guest deletes it: one namespace of the whole capacity fits", async () => {
    const total = g.disk.byteLength + GUEST_CAPACITY;
    expect(await g.ok("nvme delete-ns /dev/nvme0 --namespace-id=1")).toMatch(/delete-ns: Success, deleted nsid:1/);
    await waitFor(g, "ls /sys/block", /nvme0n1/, false);
    let id = fields(await g.ok("nvme id-ctrl /dev/nvme0"), true);
    expect([Number(id.tnvmcap), Number(id.unvmcap)]).toEqual([total, total]);
    const blocks = total / 512;
    expect(await g.ok(`nvme create-ns /dev/nvme0 --nsze=${blocks} --ncap=${blocks} --flbas=0`)).toMatch(/create-ns: Success, created nsid:1/);
    id = fields(await g.ok("nvme id-ctrl /dev/nvme0"), true);
    expect([Number(id.tnvmcap), Number(id.unvmcap)]).toEqual([total, 0]);
    await g.ok("nvme attach-ns /dev/nvme0 --namespace-id=1 --controllers=1");
    await waitFor(g, "cat /sys/block/nvme0n1/size", new RegExp(`^${blocks}$`), true);
    // The new namespace reads as zeros and keeps what is written at its very end.
    await g.ok(`dd if=/dev/urandom of=/tmp/end bs=4k count=1 2>/dev/null && dd if=/tmp/end of=/dev/nvme0n1 bs=4k seek=${total / 4096 - 1} oflag=direct 2>/dev/null`);
    const want = (await g.ok("md5sum </tmp/end")).split(/\s+/)[0];
    expect((await g.ok(`dd if=/dev/nvme0n1 bs=4k skip=${total / 4096 - 1} iflag=direct 2>/dev/null | md5sum`)).split(/\s+/)[0]).toBe(want);
    expect((await g.ok("dd if=/dev/nvme0n1 bs=64k count=1 iflag=direct 2>/dev/null | tr -d '\\000' | wc -c")).trim()).toBe("0");
  });
});
