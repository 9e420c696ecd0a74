// Where the hot path's compiled WebAssembly comes from. By default the file beside this module,
// written as `new URL("…", import.meta.url)`: in the package that is dist/hotpath.wasm next to the
// code, which bundlers (vite, webpack, rollup, …) copy into the application and Node reads from
// disk; in this repository it is build/hotpath.wasm (`npm run build:asm`). The `wasm` option of
// attachNvme / NvmeController.create overrides it with a URL, the bytes or a compiled module.

/** The `wasm` option: where to load hotpath.wasm from, its bytes, or the module compiled already. */
export type HotPathWasm = string | URL | BufferSource | WebAssembly.Module;

/** What the module exports (asm/index.ts); the codes it returns are asm/layout.ts's, decoded in hotpath.ts. */
export interface HotPathExports {
  init(ramBase: number, ramSize: number, state: number): void;
  reset(): void;
  attach(ramBase: number, ramSize: number, state: number): void;
  markDirty(addr: number, len: number): void;
  clearDirty(): void;
  dbValue(idx: number): number;
  /** A DB_* code. */
  dbWrite(idx: number, value: number): number;
  dbbufConfig(sLo: number, sHi: number, eLo: number, eHi: number): number;
  sqCreate(qid: number, lo: number, hi: number, size: number, cqid: number): number;
  cqCreate(qid: number, lo: number, hi: number, size: number, ien: number): number;
  sqDelete(qid: number): void;
  cqDelete(qid: number): void;
  sqExists(qid: number): number;
  cqExists(qid: number): number;
  /** FETCH_OK | cqid, or another FETCH_* code. */
  sqFetch(qid: number, arm: number): number;
  /** qid | cqid << FETCH_NEXT_CQ_SHIFT of the entry fetched, or FETCH_NONE. */
  fetchNext(arm: number): number;
  sqCqid(qid: number): number;
  cqPost(cqid: number, sqid: number, cid: number, status: number, dw0: number, dw1: number, now: number): number;
  /** A PRP_* code. */
  prpMap(p1Lo: number, p1Hi: number, p2Lo: number, p2Hi: number, len: number, toHost: number): number;
  /** PRP_OK, PRP_OUTSIDE_RAM or an SGL_* code. */
  sglMap(aLo: number, aHi: number, dLen: number, id: number, len: number, toHost: number): number;
  segmentCount(): number;
  irqLevel(now: number): number;
  nextDue(): number;
}

const loaded = new Map<string, Promise<WebAssembly.Module>>();

/** The hot path's module: from `wasm` if given, else the file shipped beside this module. Compiled once per URL. */
export function hotPathModule(wasm?: HotPathWasm): Promise<WebAssembly.Module> {
  if (wasm instanceof WebAssembly.Module) return Promise.resolve(wasm);
  if (wasm instanceof ArrayBuffer || ArrayBuffer.isView(wasm)) return compile(wasm, "the bytes given as the `wasm` option");
  if (wasm !== undefined && typeof wasm !== "string" && !(wasm instanceof URL)) return Promise.reject(badOption(wasm));
  let url: URL;
  try {
    url = wasm === undefined ? new URL("../build/hotpath.wasm", import.meta.url) : new URL(wasm, baseUrl());
  } catch {
    return Promise.reject(badOption(wasm));
  }
  const key = url.href;
  let p = loaded.get(key);
  if (!p) {
    p = load(url, wasm === undefined);
    loaded.set(key, p);
    p.catch(() => loaded.delete(key)); // a failed load is tried again next time
  }
  return p;
}

/**
 * Fetches and compiles the hot path's wasm now: attachNvme given the same `wasm` option (or none)
 * then finds it compiled. A page that calls this as it loads takes the fetch off the attach.
 */
export async function preloadHotPath(wasm?: HotPathWasm): Promise<void> {
  await hotPathModule(wasm);
}

function badOption(wasm: unknown): TypeError {
  return new TypeError(`v86-nvme: the \`wasm\` option must be a URL, the bytes of hotpath.wasm or a WebAssembly.Module (got ${String(wasm)})`);
}

/** Relative URLs in the `wasm` option: against the page, or in Node the working directory. */
function baseUrl(): string | undefined {
  const g = globalThis as { location?: { href: string }; process?: { cwd(): string } };
  return g.location?.href ?? (g.process ? `file://${g.process.cwd()}/` : undefined);
}

async function load(url: URL, shipped: boolean): Promise<WebAssembly.Module> {
  const source = `${url.href} (${shipped ? "the file shipped beside the package's code" : "the URL given as the `wasm` option"})`;
  const hint = "serve that file, or pass its URL, its bytes or a compiled WebAssembly.Module as the `wasm` option of attachNvme / NvmeController.create";
  let bytes: BufferSource;
  try {
    if (url.protocol === "file:") {
      const fs = await import(/* @vite-ignore */ /* webpackIgnore: true */ "node:fs/promises");
      bytes = (await fs.readFile(url)) as Uint8Array<ArrayBuffer>; // a Buffer of its own, never shared
    } else {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      bytes = await res.arrayBuffer();
      if (isWebPage(res.headers.get("content-type"), new Uint8Array(bytes))) {
        throw new Error(`${url.href} serves a web page, not the hot path's WebAssembly (a server's answer for a file it does not have)`);
      }
    }
  } catch (e) {
    throw new Error(`v86-nvme: cannot load the hot path's WebAssembly from ${source}: ${reason(e)}; ${hint}`, { cause: e });
  }
  return compile(bytes, source, hint);
}

/** An HTML answer: its type says so, or it starts like a page (a dev server's fallback for unknown paths). */
function isWebPage(type: string | null, start: Uint8Array): boolean {
  if (type?.toLowerCase().startsWith("text/html")) return true;
  const head = new TextDecoder().decode(start.subarray(0, 64)).trimStart().toLowerCase();
  return head.startsWith("<!doctype") || head.startsWith("<html");
}

async function compile(bytes: BufferSource, source: string, hint?: string): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(bytes);
  } catch (e) {
    // Often an HTML page that a server sent for a missing file.
    throw new Error(`v86-nvme: the hot path's WebAssembly from ${source} does not compile: ${reason(e)}${hint ? `; ${hint}` : ""}`, { cause: e });
  }
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
