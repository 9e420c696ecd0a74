// One naming convention for the public options (src/backends/option-names.ts): the names work,
// QEMU's property names work silently, the names of 0.1 work with one console.warn per old name
// per process, and an alias given beside its name with another value is an error naming both.

import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { MemoryBackend, NvmeController, normalizeOptionNames, OPTION_NAMES, nvmeConfigKey, mismatches } from "../src/index.ts";
import { resetDeprecationNotices } from "../src/backends/option-names.ts";
import { exportBlob } from "../src/backends/export.ts";

let warn: MockInstance<typeof console.warn>;
beforeEach(() => {
  resetDeprecationNotices();
  warn = vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterEach(() => warn.mockRestore());

const MiB = 1 << 20;

function create(options: Record<string, unknown>) {
  const memory = new WebAssembly.Memory({ initial: 32 });
  const host = { setIrq() {}, markDirty() {}, log() {} };
  return NvmeController.create({ namespaces: [{ backend: new MemoryBackend(MiB) }], ...options } as never, { memory, ramBase: 0, ramSize: MiB }, host as never);
}

describe("the table", () => {
  it("has one entry per name and scope, and no alias that is another entry's name or alias", () => {
    const seen = new Set<string>();
    for (const e of OPTION_NAMES) {
      for (const n of [e.name, e.qemu, e.old]) {
        if (n === undefined) continue;
        // A name may repeat only as the same entry's name (logicalBlockSize in two scopes is two entries).
        const key = `${e.scope}:${n}`;
        if (n !== e.name) expect(seen.has(key), key).toBe(false);
        seen.add(key);
      }
      expect(e.name).toMatch(/^[a-z][a-zA-Z0-9]*$/);
    }
  });
});

describe("normalizeOptionNames", () => {
  it("passes the names through, giving back the same object when there is nothing to rename", () => {
    const o = { maxIoQueuePairs: 4, serial: "S" };
    expect(normalizeOptionNames("controller", o, "test")).toBe(o);
    expect(warn).not.toHaveBeenCalled();
  });

  it("renames QEMU's names silently", () => {
    const o = normalizeOptionNames("controller", { max_ioqpairs: 4, dbcs: false, logical_block_size: 4096 }, "test");
    expect(o).toEqual({ maxIoQueuePairs: 4, shadowDoorbells: false, logicalBlockSize: 4096 });
    expect(warn).not.toHaveBeenCalled();
  });

  it("renames old names with one warning per old name per process, naming the new name", () => {
    expect(normalizeOptionNames("controller", { doorbell_policy: "eager", guest_capacity: 4096 }, "attachNvme")).toEqual({ doorbellPolicy: "eager", guestCapacity: 4096 });
    normalizeOptionNames("controller", { doorbell_policy: "awake" }, "attachNvme");
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
      expect.stringMatching(/attachNvme: the option "doorbell_policy" is now "doorbellPolicy"/),
      expect.stringMatching(/"guest_capacity" is now "guestCapacity"/),
    ]);
  });

  it("refuses an alias given beside its name with another value, naming both", () => {
    expect(() => normalizeOptionNames("controller", { shadowDoorbells: true, shadow_doorbells: false }, "attachNvme")).toThrow(
      /attachNvme: "shadowDoorbells" and "shadow_doorbells" are the same option/,
    );
    expect(() => normalizeOptionNames("controller", { dbcs: true, shadow_doorbells: false }, "attachNvme")).toThrow(/"dbcs" and "shadow_doorbells"/);
    expect(() => normalizeOptionNames("boot", { timeoutMs: 1000, timeout: 2000 }, "bootGuest")).toThrow(/"timeoutMs" and "timeout"/);
  });

  it("takes an alias beside its name with the same value, and an undefined alias as absent", () => {
    expect(normalizeOptionNames("controller", { maxIoQueuePairs: 4, max_ioqpairs: 4 }, "test")).toEqual({ maxIoQueuePairs: 4 });
    expect(normalizeOptionNames("exec", { timeoutMs: 5, timeout: undefined }, "exec")).toEqual({ timeoutMs: 5 });
    expect(warn).not.toHaveBeenCalled();
  });

  it("renames per scope: `timeout` is bootTimeoutMs for Node's bootGuest, timeoutMs for exec", () => {
    expect(normalizeOptionNames("nodeGuest", { timeout: 5, disk: "d.img" }, "bootGuest")).toEqual({ bootTimeoutMs: 5, image: "d.img" });
    expect(normalizeOptionNames("exec", { timeout: 5 }, "exec")).toEqual({ timeoutMs: 5 });
    expect(normalizeOptionNames("fixture", { bootTimeout: 5 }, "v86-nvme/playwright")).toEqual({ bootTimeoutMs: 5 });
    expect(warn).toHaveBeenCalledTimes(4);
  });
});

describe("at the entries", () => {
  it("NvmeController.create takes the names, QEMU's names and the old names alike", async () => {
    const byName = await create({ maxIoQueuePairs: 3, maxQueueEntries: 64, shadowDoorbells: false, doorbellPolicy: "eager", doorbellIdleUs: 7, vendorId: 0x1234 });
    const byQemu = await create({ max_ioqpairs: 3, dbcs: false });
    const byOld = await create({ max_ioqpairs: 3, mqes: 64, shadow_doorbells: false, doorbell_policy: "eager", doorbell_idle_us: 7, vendor_id: 0x1234 });
    for (const c of [byName, byOld]) {
      expect(c.config).toMatchObject({ maxIoQueues: 3, mqes: 64, shadowDoorbells: false, doorbellPolicy: "eager", doorbellIdleUs: 7, vendorId: 0x1234 });
    }
    expect(byQemu.config).toMatchObject({ maxIoQueues: 3, shadowDoorbells: false });
    expect(warn).toHaveBeenCalledTimes(5);
    expect(String(warn.mock.calls[0][0])).toMatch(/^v86-nvme: NvmeController\.create: the option "mqes" is now "maxQueueEntries"/);
  });

  it("NvmeController.create renames namespace options and refuses a conflicting pair", async () => {
    const c = await create({ namespaces: [{ backend: new MemoryBackend(MiB), logical_block_size: 4096 }] });
    expect(c.namespaces()[0].logicalBlockSize).toBe(4096);
    await expect(create({ guestCapacity: 1, guest_capacity: 2 })).rejects.toThrow(/"guestCapacity" and "guest_capacity"/);
    const nsid = c.addNamespace({ backend: new MemoryBackend(MiB), logical_block_size: 4096 });
    expect(c.namespaces().find((n) => n.nsid === nsid)?.logicalBlockSize).toBe(4096);
    expect(warn).toHaveBeenCalledTimes(1); // guest_capacity's notice; logical_block_size is QEMU's name

  });

  it("namespaces() keeps the old field name for a release, warning once when it is read", async () => {
    const c = await create({});
    const [info] = c.namespaces();
    expect(Object.keys(info)).not.toContain("logical_block_size");
    expect(info.logical_block_size).toBe(512);
    expect(c.namespaces()[0].logical_block_size).toBe(512);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/the field "logical_block_size" is now "logicalBlockSize"/);
  });

  it("exportBlob takes onProgress and the old onprogress", async () => {
    const disk = new MemoryBackend(4096);
    const seen: number[] = [];
    await exportBlob(disk, { chunkSize: 1024, onProgress: (d) => seen.push(d) });
    await exportBlob(disk, { chunkSize: 4096, onprogress: (d) => seen.push(d) });
    expect(seen).toEqual([0, 1024, 2048, 3072, 4096, 0, 4096]);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it("a state recorded with the old names matches the same options under the new names", () => {
    const here = { imageId: "a", imageBytes: MiB, memory: 128 * MiB, ide: false };
    const old = nvmeConfigKey({ shadow_doorbells: false, mqes: 64 });
    const now = nvmeConfigKey({ shadowDoorbells: false, maxQueueEntries: 64 });
    expect(old).toBe(now);
    // A key written by 0.1 (its options' names as given) still matches.
    const written = JSON.stringify({ mqes: 64, shadow_doorbells: false });
    expect(mismatches({ ...here, nvme: written }, { ...here, nvme: now })).toEqual([]);
    expect(mismatches({ ...here, nvme: written }, { ...here, nvme: nvmeConfigKey({ maxQueueEntries: 32 }) })[0]).toMatch(/maxQueueEntries 64 \(this guest: 32\)/);
    expect(warn).not.toHaveBeenCalled();
  });
});

describe("at the Node and Playwright entries", () => {
  it("the fixture's options: bootTimeout and the controller's old names become the new ones, once each", async () => {
    const { namedPageOptions } = await import("../src/playwright/guest-page.ts");
    const o = namedPageOptions({ image: "d.img", bootTimeout: 5, nvme: { shadow_doorbells: false, max_ioqpairs: 2 } });
    expect(o).toEqual({ image: "d.img", bootTimeoutMs: 5, nvme: { shadowDoorbells: false, maxIoQueuePairs: 2 } });
    expect(warn).toHaveBeenCalledTimes(2);
    expect(() => namedPageOptions({ bootTimeoutMs: 5, bootTimeout: 6 })).toThrow(/v86-nvme\/playwright: "bootTimeoutMs" and "bootTimeout"/);
  });

  it("Node's bootGuest refuses `image` and `disk` given apart before it reads a file", async () => {
    const { bootGuest } = await import("../src/node/index.ts");
    await expect(bootGuest({ image: "/nonexistent/a.img", disk: "/nonexistent/b.img" })).rejects.toThrow(/bootGuest: "image" and "disk" are the same option/);
    await expect(bootGuest({ image: "/nonexistent/a.img", bios: "/nonexistent/bios" }, { timeoutMs: 1, timeout: 2 })).rejects.toThrow(/"timeoutMs" and "timeout"/);
  });
});
