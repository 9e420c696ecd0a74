// Images that cannot boot fail fast and say why, quoting SeaBIOS from the VGA screen, instead of
// waiting out the boot timeout with an empty serial console.

import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BootError, bootGuest } from "../../src/node/index.ts";
import { files } from "v86-nvme-guest/node";
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
});
