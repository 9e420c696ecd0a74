// The fixture's bad input: a file option that is missing or names no file is refused at once,
// naming the option; a guest that never reaches its prompt fails after bootTimeout with the serial
// console's tail and the VGA screen (what the fixture attaches to every test of that worker).

import { BootError, expect, test } from "../../src/playwright/index.ts";
import { GuestPage } from "../../src/playwright/guest-page.ts";

test("a missing or unset image or BIOS file is refused, naming the option", async ({ browser, bios }) => {
  await expect(GuestPage.open(browser, { image: "no/such/disk.img", bios })).rejects.toThrow(
    "the `image` option names no/such/disk.img, which is not a file",
  );
  await expect(GuestPage.open(browser, { bios })).rejects.toThrow("the `image` option is not set");
  await expect(GuestPage.open(browser, { image: new Uint8Array(512) })).rejects.toThrow("the `bios` option is not set");
  await expect(GuestPage.open(browser, { image: new Uint8Array(0), bios })).rejects.toThrow("the `image` option is an empty file");
});

test("a guest that never reaches its prompt fails with the serial tail and the VGA screen", async ({ browser, bios, vgaBios }) => {
  // 1 MiB of zeros: SeaBIOS finds the NVMe disk, reads its MBR, finds no boot signature.
  const error = await GuestPage.open(browser, { image: new Uint8Array(1 << 20), bios, vgaBios, bootTimeout: 2_000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BootError);
  const e = error as BootError;
  expect(e.message).toContain("the guest did not boot");
  expect(e.message).toContain("--- serial tail ---");
  expect(e.screen?.subarray(1, 4).toString()).toBe("PNG");
  await test.info().attach("VGA screen", { body: e.screen!, contentType: "image/png" });
});
