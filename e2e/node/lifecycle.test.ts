// The controller across drivers and reboots, in one Linux guest under Node: root on v86's IDE
// disk (SeaBIOS boots it; syslinux label "ide"), the NVMe controller as a data disk, so Linux's
// nvme driver can be unbound and bound again without pulling the root from under the shell.
//
// 1. Driver hand-off: Linux's driver is unbound, a second driver (second-driver.sh: busybox
//    devmem over /dev/mem) takes the controller and leaves it half-configured; Linux binds
//    again and must come back `live` with the data intact. Once with a shutdown notification
//    pending, once with interrupts masked (INTMS), an I/O queue pair created and CC.EN cleared.
// 2. Two `reboot`s in a row (busybox init: rcK syncs and unmounts, the kernel shuts the
//    controller down, v86 resets the machine, SeaBIOS boots again): data written before each
//    through the page cache reads back after, and while the controller is disabled after the
//    reboot the device writes nothing into the previous kernel's shadow doorbell and EventIdx
//    pages (canaries there, and every range the device reports written); each enable (SeaBIOS's,
//    the new kernel's) finds no shadow pages configured. While enabled the device writes where
//    its new driver's commands point, and that may be the old pages (the kernel reuses RAM).
//
// Needs the guest in public/ (bash scripts/build-guest.sh). V86_E2E_ECHO=1 echoes the console.

import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deviceOf } from "../../src/controller/controller.ts";
import { Guest, PROMPT, ROOT_READY } from "../../test/project-guest/guest.ts";
import { md5, note, serialTailOnFailure } from "./support.ts";

/** Scratch space appended to the image (namespace 1); the tests write here. */
const APPEND = 8 << 20;
const SECOND_DRIVER = readFileSync(new URL("./second-driver.sh", import.meta.url), "utf8");

describe("driver hand-off and reboots (root on IDE, NVMe as data disk)", () => {
  let g: Guest;
  let bdf = "";
  /** First sector of the appended scratch space on nvme0n1. */
  let scratchSector = 0;

  beforeAll(async () => {
    g = await Guest.boot({ ide: true, label: "ide", appendBytes: APPEND, serial: "V86LIFE001", bootTimeoutMs: 600_000 });
    note(`boot to the shell prompt: ${(g.bootMs / 1000).toFixed(1)} s`);
    scratchSector = (g.disk.byteLength - APPEND) / 512;
    bdf = await g.ok("basename $(readlink /sys/class/nvme/nvme0/device)");
    expect(bdf).toMatch(/^0000:00:04\.0$/);
    // Into the guest in pieces: busybox's line editor takes lines of up to 1 KiB.
    const b64 = Buffer.from(SECOND_DRIVER.replace(/^\s*#.*\n/gm, "")).toString("base64");
    await g.ok("rm -f /tmp/second-driver.b64");
    for (let i = 0; i < b64.length; i += 768) await g.ok(`printf %s '${b64.slice(i, i + 768)}' >>/tmp/second-driver.b64`);
    await g.ok("base64 -d /tmp/second-driver.b64 >/tmp/second-driver.sh");
  }, 660_000);

  serialTailOnFailure(() => g);

  afterAll(async () => {
    await g?.stop();
  }, 20_000);

  /** Writes 256 KiB of random data at `sector` of nvme0n1 (O_DIRECT) and returns its md5. */
  async function writeData(sector: number): Promise<string> {
    const out = await g.ok(`dd if=/dev/urandom of=/tmp/blk bs=64k count=4 2>/dev/null && dd if=/tmp/blk of=/dev/nvme0n1 bs=512 seek=${sector} oflag=direct conv=fsync 2>/dev/null && md5sum /tmp/blk`);
    return out.split(/\s+/)[0];
  }

  async function readData(sector: number): Promise<string> {
    return (await g.ok(`dd if=/dev/nvme0n1 bs=512 skip=${sector} count=512 iflag=direct 2>/dev/null | md5sum`)).split(/\s+/)[0];
  }

  /** Waits (in the guest, up to `seconds`) for nvme0 to be live with nvme0n1 present; returns the state seen. */
  async function waitLive(seconds: number): Promise<string> {
    return g.ok(
      `i=0; while [ "$(cat /sys/class/nvme/nvme0/state 2>/dev/null)" != live ] || [ ! -b /dev/nvme0n1 ]; do ` +
        `[ $i -lt ${seconds * 10} ] || break; sleep 0.1; i=$((i+1)); done; cat /sys/class/nvme/nvme0/state 2>/dev/null || echo absent`,
      (seconds + 30) * 1000,
    );
  }

  /** 16 KiB of guest-physical memory inside RAM's range that the kernel does not own (so /dev/mem reaches it). */
  async function freeRegion(): Promise<number> {
    const iomem = await g.ok("cat /proc/iomem");
    const ramEnd = g.nvme.cpu.memory_size[0];
    for (const line of iomem.split("\n")) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) : Reserved$/i.exec(line);
      if (!m) continue;
      const start = (parseInt(m[1], 16) + 0xfff) & ~0xfff;
      const end = parseInt(m[2], 16) + 1;
      if (start >= 0x100000 && end <= ramEnd && end - start >= 0x4000) return start;
    }
    throw new Error(`no reserved range of 16 KiB inside guest RAM in /proc/iomem:\n${iomem}`);
  }

  /** Unbinds Linux's driver, runs the second driver in `mode`, binds Linux again; returns what the second driver said. */
  async function handOff(mode: "masked" | "shutdown"): Promise<string> {
    const sector = scratchSector + (mode === "masked" ? 0 : 1024);
    const sum = await writeData(sector);
    const mem = await freeRegion();
    await g.ok("dmesg -c >/dev/null");
    await g.ok(`echo ${bdf} >/sys/bus/pci/drivers/nvme/unbind`, 60_000);
    const said = await g.ok(`sh /tmp/second-driver.sh ${bdf} 0x${mem.toString(16)} ${mode}`, 120_000);
    note(`${mode}: ${said} (queues at 0x${mem.toString(16)})`);
    // What the controller holds now, read from the host side.
    const ctl = g.nvme.controller;
    const cc = ctl.mmioRead32(0x14);
    if (mode === "masked") {
      expect(said).toMatch(/INTMS 0x00000001, then/);
      expect(cc & 1, "CC.EN").toBe(0);
    } else {
      expect((cc >>> 14) & 3, "CC.SHN").toBe(1);
      expect(cc & 1, "CC.EN").toBe(1);
    }
    const t = performance.now();
    await g.ok(`echo ${bdf} >/sys/bus/pci/drivers/nvme/bind`, 60_000);
    // Linux's admin timeout is 60 s: a controller that never interrupts shows up as a state
    // other than live here, with "timeout, completion polled" in dmesg.
    const state = await waitLive(45);
    const dmesg = await g.run("dmesg");
    note(`${mode}: Linux bound again in ${((performance.now() - t) / 1000).toFixed(1)} s, state ${state}; dmesg:\n${dmesg.out}`);
    expect(state, dmesg.out).toBe("live");
    expect(dmesg.out).not.toMatch(/timeout|nobody cared|Disabling IRQ/i);
    expect(await readData(sector)).toBe(sum);
    // And new I/O works.
    const again = await writeData(sector + 512);
    expect(await readData(sector + 512)).toBe(again);
    return said;
  }

  it("hand-off: Linux binds again after a second driver left a shutdown notification pending", async () => {
    await handOff("shutdown");
  }, 660_000);

  it("hand-off: Linux binds again after a second driver left INTMS set, I/O queues created and CC.EN cleared", async () => {
    await handOff("masked");
  }, 660_000);

  it("reboots twice: data written before each reads back, no device writes into the old shadow/EventIdx pages", async () => {
    const ctl = g.nvme.controller;
    const hp = deviceOf(ctl).hotPath;
    const cpu = g.nvme.cpu;
    // Guest RAM as the device sees it (a fresh view each time: the memory may have grown).
    const ram = (): Uint8Array => {
      const w = g.nvme.guestRam();
      return new Uint8Array(w.memory.buffer, w.ramBase, w.ramSize);
    };
    const CANARY = 0xa5;
    // Every range the device writes in guest RAM (it reports each one for v86's JIT).
    const writes: { start: number; end: number; reboots: number; enabled: boolean }[] = [];
    const regs = deviceOf(ctl).regs;
    const host = g.nvme.host;
    const markDirty = host.markDirty.bind(host);
    // A completion posted into a ring the new driver created is no stale write, wherever that is.
    const inLiveCq = (start: number, end: number): boolean => {
      for (let q = 0; q < hp.cqLimit; q++) {
        const cq = hp.completionQueue(q);
        if (cq && start >= cq.base && end <= cq.base + cq.size * 16) return true;
      }
      return false;
    };
    host.markDirty = (start, end) => {
      if (!inLiveCq(start, end)) writes.push({ start, end, reboots: g.nvme.counters.reboots, enabled: regs.enabled });
      markDirty(start, end);
    };

    try {
      for (let round = 1; round <= 2; round++) {
        const pages = hp.shadowPages();
        expect(pages, "Linux configured shadow doorbells").toBeDefined();
        const old = [pages!.shadow, pages!.eventIdx];
        // Written through the page cache (no O_DIRECT, no sync): the reboot must write it back.
        const token = `v86nvme-reboot-${round}-${Date.now()}`;
        await g.ok(`printf '%s' ${token} | dd of=/dev/nvme0n1 bs=512 seek=${scratchSector + 4096 + round} conv=notrunc 2>/dev/null`);
        await g.ok(`mount /dev/nvme0n1p2 /mnt && echo ${token} >/mnt/reboot-token`);

        // Canaries go into the old pages as soon as v86 resets the machine.
        const rebootsBefore = g.nvme.counters.reboots;
        const reboot = cpu.reboot_internal;
        cpu.reboot_internal = function (this: typeof cpu): void {
          reboot.call(this);
          for (const p of old) ram().fill(CANARY, p, p + 4096);
          cpu.reboot_internal = reboot;
        };
        // The guest's own code may reuse those pages after the reboot (the BIOS, syslinux and the
        // next kernel all write RAM), so the canaries are compared around every call into the
        // device instead: a change made inside one is the device's. Watched after the reboot in
        // every call that starts with the controller disabled.
        let deviceChanged = 0;
        let watchedCalls = 0;
        const changes: string[] = [];
        let callName = "";
        /** What the device held for shadow pages at each enable since the reboot. */
        const shadowAtEnables: unknown[] = [];
        const around = <T>(name: string, call: () => T): T => {
          if (g.nvme.counters.reboots <= rebootsBefore) return call();
          if (regs.enabled) return call();
          const result = watched(name, call);
          if (regs.enabled) shadowAtEnables.push(hp.shadowPages());
          return result;
        };
        const watched = <T>(name: string, call: () => T): T => {
          callName = name;
          watchedCalls++;
          const before = old.map((p) => ram().slice(p, p + 4096));
          const result = call();
          old.forEach((p, i) => {
            const now = ram().subarray(p, p + 4096);
            for (let j = 0; j < 4096; j++) {
              if (now[j] === before[i][j] || inLiveCq(p + j, p + j + 1)) continue;
              deviceChanged++;
              // What changed, where and in which call: for a failure to say more than a count.
              if (changes.length < 8) changes.push(`0x${(p + j).toString(16)}: 0x${before[i][j].toString(16)} → 0x${now[j].toString(16)} in ${callName}`);
            }
          });
          return result;
        };
        const mmioWrite32 = ctl.mmioWrite32;
        const mmioRead32 = ctl.mmioRead32;
        const timers = cpu.run_hardware_timers;
        ctl.mmioWrite32 = (offset: number, value: number): void => around(`MMIO write 0x${offset.toString(16)} = 0x${(value >>> 0).toString(16)}`, () => mmioWrite32.call(ctl, offset, value));
        ctl.mmioRead32 = (offset: number): number => around(`MMIO read 0x${offset.toString(16)}`, () => mmioRead32.call(ctl, offset));
        cpu.run_hardware_timers = function (this: typeof cpu, acpi: boolean, now: number): number {
          return around("the timer tick", () => timers.call(this, acpi, now));
        };
        const ccAtReboot = g.ccWrites.length;

        const from = g.transcript.length;
        const t = performance.now();
        const r = await g.run("reboot");
        expect(r.status).toBe(0);
        await g.guest.serial.waitFor("reboot: Restarting system", { from, timeoutMs: 120_000 });
        const ready = await g.guest.serial.waitFor(ROOT_READY, { from, timeoutMs: 300_000 });
        await g.guest.serial.waitFor(PROMPT, { from: ready.index, timeoutMs: 60_000 });
        ctl.mmioWrite32 = mmioWrite32;
        ctl.mmioRead32 = mmioRead32;
        cpu.run_hardware_timers = timers;
        cpu.reboot_internal = reboot;
        note(`reboot ${round}: back at the prompt after ${((performance.now() - t) / 1000).toFixed(1)} s; old shadow 0x${old[0].toString(16)}, EventIdx 0x${old[1].toString(16)}; CC writes since: ${g.ccWrites.slice(ccAtReboot).map((v) => `0x${v.toString(16)}`).join(" ")}`);
        expect(g.nvme.counters.reboots).toBe(rebootsBefore + 1);
        expect(g.transcript.slice(from)).toMatch(/The system is going down NOW![^]*reboot: Restarting system[^]*SYSLINUX/);

        // No device write into the old pages while disabled since the reboot, and no shadow pages
        // left over at any enable (SeaBIOS's, then the new kernel's).
        const stale = writes.filter((w) => w.reboots > rebootsBefore && !w.enabled && old.some((p) => w.start < p + 4096 && w.end > p));
        expect(stale, "device writes into the old shadow/EventIdx pages").toEqual([]);
        expect(shadowAtEnables.length, "enables since the reboot").toBeGreaterThanOrEqual(2);
        expect(shadowAtEnables.filter((p) => p !== undefined), "shadow pages the device held at an enable").toEqual([]);
        note(`reboot ${round}: ${watchedCalls} calls into the disabled device watched, ${shadowAtEnables.length} enables, ${writes.filter((w) => w.reboots > rebootsBefore).length} ranges written by the device since the reboot outside live CQ rings`);
        expect(watchedCalls).toBeGreaterThan(0);
        expect(deviceChanged, `canary bytes the device changed: ${changes.join("; ")}`).toBe(0);

        // The controller came back live; the data reached the disk before the reboot.
        expect(await waitLive(60)).toBe("live");
        const back = await g.ok(`dd if=/dev/nvme0n1 bs=512 skip=${scratchSector + 4096 + round} count=1 iflag=direct 2>/dev/null | head -c ${token.length}`);
        expect(back).toBe(token);
        expect(await g.ok("mount /dev/nvme0n1p2 /mnt && cat /mnt/reboot-token && umount /mnt")).toBe(token);
        expect(md5(g.diskBytes((scratchSector + 4096 + round) * 512, 512).subarray(0, token.length))).toBe(md5(Buffer.from(token)));
        const dmesg = await g.ok("dmesg | grep -iE 'nvme|EXT4-fs' || true");
        expect(dmesg).not.toMatch(/timeout|I\/O error|EXT4-fs error|recovery/i);
      }
      const c = g.counters();
      expect(c.adapter.mmioErrors + c.adapter.tickErrors).toBe(0);
    } finally {
      host.markDirty = markDirty;
    }
  }, 900_000);
});
