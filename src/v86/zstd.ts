// zstd decompression with the decoder inside v86's own wasm (v86 restores its zstd states with
// it): a private instance of the module, with every import a stub, does nothing but decompress.
// C zstd compiled to wasm runs 2-3 times faster than a decoder in JavaScript, and a page already
// has this module. Each call gets a fresh instance: a damaged frame can leave nothing behind.

/** Decompresses one zstd frame whose decompressed size is known. */
export type ZstdDecompress = (frame: Uint8Array, size: number) => Uint8Array;

interface V86ZstdExports {
  memory: WebAssembly.Memory;
  zstd_create_ctx(srcSize: number): number;
  zstd_get_src_ptr(ctx: number): number;
  zstd_read(ctx: number, length: number): number;
  zstd_read_free(ptr: number, length: number): void;
  zstd_free_ctx(ctx: number): void;
}

const NEEDED = ["memory", "zstd_create_ctx", "zstd_get_src_ptr", "zstd_read", "zstd_read_free", "zstd_free_ctx"];

/** Imports that satisfy the module without doing anything: the decoder calls none of them. */
function stubImports(module: WebAssembly.Module): WebAssembly.Imports {
  const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {};
  for (const { module: m, name, kind } of WebAssembly.Module.imports(module)) {
    const value =
      kind === "function" ? () => { throw new Error(`v86's wasm called ${name} while decompressing`); }
      : kind === "table" ? new WebAssembly.Table({ element: "anyfunc", initial: 4096 })
      : kind === "memory" ? new WebAssembly.Memory({ initial: 256 })
      : new WebAssembly.Global({ value: "i32", mutable: true }, 0);
    (imports[m] ??= {})[name] = value;
  }
  return imports;
}

/**
 * The zstd decoder of this v86 wasm module, or undefined when the module has none (v86 releases
 * before zstd states). Its calls throw on a damaged or truncated frame.
 */
export function v86Zstd(module: WebAssembly.Module): ZstdDecompress | undefined {
  const names = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  if (!NEEDED.every((n) => names.has(n))) return undefined;
  const imports = stubImports(module);
  return (frame, size) => {
    const z = new WebAssembly.Instance(module, imports).exports as unknown as V86ZstdExports;
    const ctx = z.zstd_create_ctx(frame.byteLength);
    new Uint8Array(z.memory.buffer, z.zstd_get_src_ptr(ctx) >>> 0, frame.byteLength).set(frame);
    // null on a damaged frame or one that ends before `size` bytes.
    const ptr = z.zstd_read(ctx, size) >>> 0;
    if (ptr === 0) throw new Error("zstd: the frame is damaged or truncated");
    // A view, not a copy: the instance is this call's alone, and a copy would touch 40 MB more.
    return new Uint8Array(z.memory.buffer, ptr, size);
  };
}
