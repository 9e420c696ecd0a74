// MSI-X in a Linux guest: v86 with ACPI on (so the guest sees a local APIC and an IOAPIC) and the
// controller's msix option. Cold boot with root on the NVMe disk: every read of the boot already
// completes through the MSI-X vector. Then Linux's own view (/proc/interrupts: a PCI-MSI line
// named after both queues, nothing on the IOAPIC), a checksummed write and read back with
// O_DIRECT, and interrupts per I/O against the controller's counters.
//
// With ACPI on, Linux takes much longer to reach the nvme module (ACPI tables, IOAPIC setup)
// and the initramfs waits only 15 s of guest uptime for the root device: on a loaded host it can
// give up before the driver probes, with or without MSI-X. The boot then fails fast, saying so.
//
// Needs the guest in public/ (bash scripts/build-guest.sh). V86_E2E_ECHO=1 echoes the console.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootGuest } from "../../src/node/index.ts";
import type { Guest } from "../../src/node/index.ts";
import { BIOS, VGA_BIOS } from "../../test/project-guest/image.ts";
import { INITRAMFS_SHELL, PROMPT, ROOT_READY } from "../../test/project-guest/guest.ts";
import { note } from "./support.ts";

const IMAGE = new URL("../../public/guest/disk.img", import.meta.url);

// Opt-in (V86_E2E_ACPI=1): the ACPI cold boot does not reliably reach its root file system yet.
describe.skipIf(process.env.V86_E2E_ACPI !== "1")("MSI-X (acpi: true, msix: true)", () => {
  let g: Guest;

  beforeAll(async () => {
    const t = performance.now();
    g = await bootGuest(
      {
        image: IMAGE, bios: BIOS, vgaBios: VGA_BIOS, v86Options: { acpi: true }, nvme: { msix: true },
        onEmulator: (e) => {
          if (process.env.V86_E2E_ECHO === "1") e.add_listener("serial0-output-byte", (b) => process.stderr.write(String.fromCharCode(b as number)));
        },
      },
      {
        timeoutMs: 1_200_000,
        readyWhen: (serial) => {
          const t = serial.text();
          if (t.includes(INITRAMFS_SHELL)) throw new Error(`the initramfs gave up waiting for the root device\n${serial.tail()}`);
          return t.includes(ROOT_READY) && t.lastIndexOf(PROMPT) > t.indexOf(ROOT_READY);
        },
      },
    );
    note(`cold boot with ACPI and MSI-X: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }, 1_260_000);

  afterAll(async () => {
    await g?.stop();
  }, 20_000);

  const sh = async (cmd: string) => {
    const r = await g.exec(cmd);
    expect(r.exitCode, `${cmd}\n${r.stdout}`).toBe(0);
    return r.stdout;
  };

  it("Linux takes the MSI-X vector for the admin and the I/O queue", async () => {
    const line = await sh("grep nvme0 /proc/interrupts");
    expect(line).toMatch(/PCI-MSI.*nvme0q0, nvme0q1/);
    expect(await sh("ls /sys/bus/pci/devices/0000:00:04.0/msi_irqs/ | wc -l")).toBe("1");
    expect(g.nvme.msix?.enabled()).toBe(true);
    expect(g.nvme.msix?.counters.dropped).toBe(0);
  });

  it("moves data through it: one message per completion at QD 1", async () => {
    const before = { ...g.nvme.msix!.counters };
    const posted = g.nvme.controller.counters.cqesPosted;
    const raises = g.nvme.counters.raises;
    const out = await sh(
      "dd if=/dev/urandom of=/tmp/x bs=64k count=16 2>/dev/null && dd if=/tmp/x of=/dev/nvme0n1 bs=64k seek=64 oflag=direct conv=fsync 2>/dev/null && " +
        "md5sum </tmp/x && dd if=/dev/nvme0n1 bs=64k skip=64 count=16 iflag=direct 2>/dev/null | md5sum && dd if=/dev/nvme0n1 of=/dev/null bs=4k count=500 iflag=direct 2>/dev/null",
    );
    const [a, b] = out.split("\n").map((l) => l.split(" ")[0]);
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(b).toBe(a);
    const messages = g.nvme.msix!.counters.messages - before.messages;
    const cqes = g.nvme.controller.counters.cqesPosted - posted;
    note(`MSI-X: ${messages} messages for ${cqes} completions`);
    expect(cqes).toBeGreaterThanOrEqual(516);
    expect(messages).toBeGreaterThan(0);
    expect(messages).toBeLessThanOrEqual(cqes);
    expect(g.nvme.counters.raises).toBe(raises); // INTx stays low
  });
});
