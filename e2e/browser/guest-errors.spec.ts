// The fixture's bad input: a file option that is missing or names no file is refused at once,
// naming the option; a guest that never reaches its prompt fails after bootTimeoutMs with the serial
// console's tail and the VGA screen (what the fixture attaches to every test of that worker), a disk
// SeaBIOS cannot boot at once with SeaBIOS's words; a
// state the page cannot resume is refused naming why, and the guest booted cold instead.

import { BootError, expect, test } from "../../src/playwright/index.ts";
import { GuestPage } from "../../src/playwright/guest-page.ts";
import { encodeStateFile } from "../../src/index.ts";

test("a missing or unset image or BIOS file is refused, naming the option", async ({ browser, bios }) => {
  await expect(GuestPage.open(browser, { image: "no/such/disk.img", bios })).rejects.toThrow(
    "the `image` option names no/such/disk.img, which is not a file",
  );
  await expect(GuestPage.open(browser, { bios })).rejects.toThrow("the `image` option is not set");
  await expect(GuestPage.open(browser, { image: new Uint8Array(512) })).rejects.toThrow("the `bios` option is not set");
  await expect(GuestPage.open(browser, { image: new Uint8Array(0), bios })).rejects.toThrow("the `image` option is an empty file");
});

test("a disk SeaBIOS cannot boot fails at once, quoting SeaBIOS, with the console and the VGA screen", async ({ browser, bios, vgaBios }) => {
  // 1 MiB of zeros: SeaBIOS finds the NVMe disk, reads its MBR, finds no boot signature. The
  // failure quoting SeaBIOS comes from its screen, long before the boot timeout (which a loaded
  // machine reached first when it was 2 s; the timeout's message says nothing of SeaBIOS).
  const error = await GuestPage.open(browser, { image: new Uint8Array(1 << 20), bios, vgaBios, bootTimeoutMs: 60_000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BootError);
  const e = error as BootError;
  expect(e.message).toContain("the guest did not boot");
  expect(e.message).toContain("Boot failed: not a bootable disk");
  // The console's tail, or the word that the guest printed nothing there; never a stack trace.
  expect(e.message).toMatch(/--- serial tail ---|the guest printed nothing on its serial console/);
  expect(e.message).not.toMatch(/\n\s+at /);
  expect(e.screen?.subarray(1, 4).toString()).toBe("PNG");
  await test.info().attach("VGA screen", { body: e.screen!, contentType: "image/png" });
});

/** A well-formed state file made for another machine (another image, 256 MiB, another v86): no boot needed to make it. */
function foreignState(): Uint8Array {
  const info = new TextEncoder().encode(JSON.stringify({ state: [], buffer_infos: [] }));
  const machine = new Uint8Array(16 + ((info.length + 3) & ~3));
  const dv = new DataView(machine.buffer);
  dv.setUint32(0, 0x86768676, true); // v86's state magic and version
  dv.setUint32(4, 6, true);
  dv.setUint32(8, machine.length, true);
  dv.setInt32(12, info.length, true);
  machine.set(info, 16);
  const overlay = { byteLength: 1 << 20, blockSize: 512, pageIndex: new Float64Array(0), pageMask: new Uint32Array(0), pageData: new Uint8Array(0), zeros: new Float64Array(0) };
  const identity = { imageId: "0123456789abcdef", imageBytes: 1 << 20, memory: 256 << 20, nvme: "{}", ide: false };
  return encodeStateFile({ format: 1, identity, machine: machine.buffer, overlay, serial: "" }, { v86Version: "0.0.1", prompt: "guest# " });
}

test("a state for another machine, or a damaged one, is refused naming why, and the page boots cold instead", async ({ browser, bios, vgaBios }) => {
  // The cold boot of 1 MiB of zeros fails quickly, and its error carries why the state was refused.
  const open = (state: Uint8Array) =>
    GuestPage.open(browser, { image: new Uint8Array(1 << 20), bios, vgaBios, memory: 128 << 20, bootTimeoutMs: 3_000 }, { state }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
  const foreign = await open(foreignState());
  expect(foreign).toBeInstanceOf(BootError);
  expect(foreign!.message).toContain("booted cold because the state was refused: the state was made with another image");
  expect(foreign!.message).toContain("another memory size: 256 MiB (this guest: 128 MiB)");
  expect(foreign!.message).toContain("another v86: 0.0.1");
  const damaged = await open(new Uint8Array(4096).fill(7));
  expect(damaged).toBeInstanceOf(BootError);
  expect(damaged!.message).toContain("booted cold because the state was refused: not a v86-nvme state file");
});
