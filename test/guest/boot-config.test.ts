// bootGuest's checks of its config: bad input is a clear error before any emulator exists.
import { describe, expect, it } from "vitest";
import { bootGuest, type GuestConfig } from "../../src/guest/index.ts";

const V86 = function () {
  throw new Error("no emulator should be created");
} as unknown as GuestConfig["V86"];
const good: GuestConfig = { V86, v86Wasm: "v86.wasm", bios: new Uint8Array(512), image: new Uint8Array(4096) };

describe("bootGuest config", () => {
  it.each([
    [{ V86: undefined }, /`V86` must be v86's V86 class/],
    [{ v86Wasm: undefined }, /`v86Wasm` .* is missing/],
    [{ bios: undefined }, /`bios` .* is missing/],
    [{ image: undefined }, /`image` .* is missing/],
    [{ image: new Uint8Array(1000) }, /1000 bytes, not a whole number of 512-byte sectors/],
    [{ image: "disk.img" }, /image must be an ArrayBuffer or a Uint8Array/],
    [{ memory: 100 }, /memory is bytes, a whole number of MiB from 32 MiB to 2 GiB \(got 100\)/],
    [{ memory: 4096 << 20 }, /memory is bytes/],
    [{ initrd: new Uint8Array(1) }, /`initrd` needs `kernel`/],
  ])("refuses %o", async (patch, message) => {
    await expect(bootGuest({ ...good, ...(patch as object) } as GuestConfig)).rejects.toThrow(message);
  });
});
