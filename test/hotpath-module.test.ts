// The hot path is instantiated over v86's own memory: anything it carries into that memory (data
// segments) or takes from it (memory.grow, allocation) would corrupt the emulator.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";

const wasm = readFileSync(new URL("../build/hotpath.wasm", import.meta.url));
const wat = readFileSync(new URL("../build/hotpath.wat", import.meta.url), "utf8");

function sectionIds(b: Uint8Array): number[] {
  const ids: number[] = [];
  let p = 8;
  const leb = () => {
    let r = 0, s = 0, x;
    do { x = b[p++]; r |= (x & 0x7f) << s; s += 7; } while (x & 0x80);
    return r >>> 0;
  };
  while (p < b.length) {
    const id = b[p++];
    const len = leb();
    ids.push(id);
    p += len;
  }
  return ids;
}

describe("hot path module", () => {
  const mod = new WebAssembly.Module(wasm);

  it("imports nothing but the memory", () => {
    expect(WebAssembly.Module.imports(mod)).toEqual([{ module: "env", name: "memory", kind: "memory" }]);
  });

  it("has no data or data-count section and never grows the memory", () => {
    const ids = sectionIds(wasm);
    expect(ids).not.toContain(11);
    expect(ids).not.toContain(12);
    expect(wat).not.toMatch(/memory\.grow/);
  });

  it("takes and returns no 64-bit values across the boundary (no BigInt per call)", () => {
    const exported = WebAssembly.Module.exports(mod).filter((e) => e.kind === "function").map((e) => e.name);
    for (const name of exported) {
      const m = wat.match(new RegExp(`\\(func \\$[^ ]+ \\(export "${name}"\\)|\\(export "${name}" \\(func (\\$[^)]+)\\)\\)`));
      const internal = m?.[1];
      expect(internal, name).toBeTruthy();
      const sig = wat.match(new RegExp(`\\(func ${internal!.replace(/\$/g, "\\$")}( \\((param|result)[^)]*\\))*`))?.[0] ?? "";
      expect(sig, name).not.toMatch(/i64/);
    }
  });
});
