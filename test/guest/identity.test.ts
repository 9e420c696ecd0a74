// What a snapshot must match: image identity, disk size, memory, controller configuration.
import { describe, expect, it } from "vitest";
import { imageIdentity, mismatches, nvmeConfigKey } from "../../src/v86/identity.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";

const here = { imageId: "aaaa", imageBytes: 1 << 20, memory: 128 << 20, nvme: nvmeConfigKey({ serial: "X" }), ide: false };

describe("snapshot identity", () => {
  it("hashes an image by samples: equal bytes agree, a changed sampled block or size differs", () => {
    const a = new Uint8Array(8 << 20).map((_, i) => (i * 7) & 0xff);
    expect(imageIdentity(a)).toBe(imageIdentity(a.slice()));
    const b = a.slice();
    b[4096 * 3 + 5] ^= 1; // inside the first MiB
    expect(imageIdentity(b)).not.toBe(imageIdentity(a));
    const c = a.slice();
    c[c.length - 10] ^= 1;
    expect(imageIdentity(c)).not.toBe(imageIdentity(a));
    expect(imageIdentity(a.subarray(0, a.length - 512))).not.toBe(imageIdentity(a));
  });

  it("controller configuration: sorted keys, backends by size, functions left out", () => {
    const k1 = nvmeConfigKey({ mdts: 5, serial: "S", log: () => {}, namespaces: [{ backend: new MemoryBackend(4096) }] });
    const k2 = nvmeConfigKey({ serial: "S", namespaces: [{ backend: new MemoryBackend(4096) }], mdts: 5 });
    expect(k1).toBe(k2);
    expect(k1).toBe('{"mdts":5,"namespaces":[{"backend":{"bytes":4096}}],"serial":"S"}');
  });

  it("names each difference", () => {
    expect(mismatches(here, here)).toEqual([]);
    expect(mismatches({ ...here, imageId: "bbbb" }, here)).toEqual(["another image: id bbbb (this guest's image: aaaa)"]);
    expect(mismatches({ ...here, imageBytes: 2 << 20, imageId: "bbbb" }, here)).toEqual(["another disk size: 2097152 bytes (this guest's image: 1048576 bytes)"]);
    expect(mismatches({ ...here, memory: 256 << 20 }, here)).toEqual(["another memory size: 256 MiB (this guest: 128 MiB)"]);
    expect(mismatches({ ...here, nvme: nvmeConfigKey({ serial: "X", mdts: 5 }) }, here)).toEqual([
      "another controller configuration: mdts 5 (this guest: default)",
    ]);
    expect(mismatches({ ...here, ide: true }, here)).toEqual(["an IDE disk (this guest: none)"]);
  });
});
