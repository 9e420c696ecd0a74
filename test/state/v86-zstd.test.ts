// v86's own zstd decoder (src/v86/zstd.ts) as decodeStateFile's fast path: the same bytes as the
// JavaScript decoder, and a damaged or truncated frame refused the same way.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { decodeStateFile, StateFileError } from "../../src/v86/state-file.ts";
import { v86Zstd } from "../../src/v86/zstd.ts";
import { compressState } from "../../src/node/zstd.ts";
import { container, snapshotOf } from "./helpers.ts";

const wasm = new WebAssembly.Module(readFileSync(createRequire(import.meta.url).resolve("v86/build/v86.wasm")));

describe("v86's zstd decoder", () => {
  const zstd = v86Zstd(wasm);

  it("is found in this v86's wasm, and none in a module without it", () => {
    expect(zstd).toBeTypeOf("function");
    // The smallest valid module: no exports at all.
    expect(v86Zstd(new WebAssembly.Module(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])))).toBeUndefined();
  });

  it("decodes a state file to what the JavaScript decoder gives", async () => {
    const raw = container(snapshotOf());
    const file = await compressState(raw, 3);
    const fast = decodeStateFile(file, { zstd });
    const slow = decodeStateFile(file);
    expect(new Uint8Array(fast.snapshot.machine)).toEqual(new Uint8Array(slow.snapshot.machine));
    expect(fast.snapshot.overlay.pageData).toEqual(slow.snapshot.overlay.pageData);
    expect(fast.info).toEqual(slow.info);
  });

  it("refuses truncated and damaged frames with a StateFileError", async () => {
    const file = await compressState(container(snapshotOf()), 3);
    const damaged = file.slice();
    for (let i = 40; i < damaged.length - 8; i += 97) damaged[i] ^= 0x5a;
    for (const bad of [file.subarray(0, file.length >> 1), file.subarray(0, file.length - 1), damaged]) {
      expect(() => decodeStateFile(bad, { zstd })).toThrow(StateFileError);
    }
  });
});
