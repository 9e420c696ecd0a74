// Images that cannot boot fail fast and say why, quoting SeaBIOS from the VGA screen, instead of
// waiting out the boot timeout with an empty serial console; a kernel whose root disk never
// appears stops in the initramfs, saying what it found.

import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BootError, bootGuest } from "../../src/node/index.ts";
import { files } from "v86-nvme-guest/node";
import { Guest } from "../../test/project-guest/guest.ts";
import { note } from "./support.ts";

describe("boot errors", () => {
  for (const [name, image] of [
    ["1 MiB of random bytes", new Uint8Array(randomBytes(1 << 20))],
    ["1 MiB of zeros", new Uint8Array(1 << 20)],
  ] as const) {
    it(`${name}: a BootError quoting SeaBIOS, long before the timeout`, async () => {
      const t = performance.now();
      const err = await bootGuest({ image, bios: files.bios, vgaBios: files.vgaBios }, { timeoutMs: 120_000 }).then(
        async (g) => {
          await g.stop();
          return undefined;
        },
        (e: unknown) => e,
      );
      const ms = performance.now() - t;
      note(`${name}: failed in ${Math.round(ms)} ms`);
      expect(err).toBeInstanceOf(BootError);
      expect((err as BootError).message).toMatch(/Boot failed: (not a bootable disk|could not read the boot disk)/);
      expect((err as BootError).screen.join("\n")).toContain("Booting from Hard Disk");
      expect(ms).toBeLessThan(60_000); // the figure is in the note; the timeout would be 120 s
    });
  }

  it("a root disk that never appears: the initramfs gives up after 15 s of uptime, naming it and the disks the kernel found", async () => {
    // The image on v86's IDE disk and no NVMe controller: syslinux's default label asks for
    // /dev/nvme0n1p2, and the initramfs loads the IDE drivers only for a root on /dev/sd*.
    const t = performance.now();
    const err = await Guest.boot({ ide: true, withNvme: false, memoryMiB: 128, bootTimeoutMs: 300_000 }).then(
      async (g) => {
        await g.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    note(`no root disk: failed in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const msg = String(err);
    expect(msg).toMatch(/the initramfs could not mount the root file system/);
    expect(msg).toMatch(/V86NVME-INITRAMFS-SHELL: root device \/dev\/nvme0n1p2 did not appear/);
    expect(msg).toMatch(/initramfs: uptime \d+\.\d+ s; block devices: none\n/);
  }, 330_000);
});
