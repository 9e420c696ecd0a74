// Where the hot path's wasm comes from: the file beside the code by default, or the `wasm` option
// (a URL, the bytes or a compiled module); a wasm that cannot be had is an error naming the URL
// tried and the option that sets it.

import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NvmeController, MemoryBackend } from "../src/index.ts";
import { hotPathModule, preloadHotPath } from "../src/hotpath-module.ts";
import { hotPathOf } from "../src/controller/controller.ts";

const BYTES = readFileSync(new URL("../build/hotpath.wasm", import.meta.url));
let server: Server;
let base: string;
/** Requests the server answered, by path. */
const asked: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    asked.push(req.url ?? "");
    if (req.url === "/hotpath.wasm" || req.url === "/preloaded/hotpath.wasm") res.writeHead(200, { "content-type": "application/wasm" }).end(BYTES);
    else if (req.url === "/page.html") res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><p>not wasm</p>");
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function controller(wasm: unknown) {
  const memory = new WebAssembly.Memory({ initial: 32 });
  const host = { setIrq() {}, markDirty() {}, log() {} };
  const options = { namespaces: [{ backend: MemoryBackend.fromBuffer(new ArrayBuffer(1 << 20)) }], wasm: wasm as never };
  return NvmeController.create(options, { memory, ramBase: 0, ramSize: 1 << 20 }, host as never);
}

/** The message of the error `p` rejects with. */
async function failure(p: Promise<unknown>): Promise<string> {
  const r = await p.then(() => undefined, (e: Error) => e.message);
  if (r === undefined) throw new Error("expected a rejection");
  return r;
}

describe("the hot path's wasm", () => {
  it("by default: the file beside the code, compiled once", async () => {
    const a = await hotPathModule();
    expect(await hotPathModule()).toBe(a);
    expect(WebAssembly.Module.exports(a).map((e) => e.name)).toContain("sqFetch");
  });

  it("from the `wasm` option: a URL, the bytes, or a compiled module", async () => {
    const compiled = new WebAssembly.Module(BYTES);
    for (const wasm of [`${base}/hotpath.wasm`, new URL(`${base}/hotpath.wasm`), BYTES, new Uint8Array(BYTES).buffer, compiled]) {
      const c = await controller(wasm);
      expect(hotPathOf(c).sqExists(0)).toBe(false);
    }
    expect(await hotPathModule(compiled)).toBe(compiled);
  });

  it("preloadHotPath fetches and compiles it once, and the controller made later uses that", async () => {
    const url = `${base}/preloaded/hotpath.wasm`;
    await preloadHotPath(url);
    const c = await controller(url);
    expect(hotPathOf(c).sqExists(0)).toBe(false);
    expect(asked.filter((p) => p === "/preloaded/hotpath.wasm")).toHaveLength(1);
    await expect(preloadHotPath(`${base}/missing.wasm`)).rejects.toThrow(/missing\.wasm/);
  });

  it("a URL that answers 404: the error names the URL and the option", async () => {
    const msg = await failure(controller(`${base}/missing/hotpath.wasm`));
    expect(msg).toContain(`${base}/missing/hotpath.wasm`);
    expect(msg).toContain("HTTP 404");
    expect(msg).toContain("`wasm` option");
  });

  it("a missing file: the error names its URL", async () => {
    const url = new URL("./no-such-dir/hotpath.wasm", import.meta.url);
    const msg = await failure(hotPathModule(url));
    expect(msg).toContain(url.href);
    expect(msg).toContain("`wasm` option");
  });

  it("an HTML page or other bytes instead of wasm: says which, and from where", async () => {
    await expect(hotPathModule(`${base}/page.html`)).rejects.toThrow(new RegExp(`${base}/page\\.html serves a web page, not the hot path's WebAssembly`));
    await expect(hotPathModule(new Uint8Array([1, 2, 3]))).rejects.toThrow(/bytes given as the `wasm` option does not compile/);
  });

  it("a value of another kind is refused", async () => {
    await expect(controller(42)).rejects.toThrow(/`wasm` option must be a URL/);
    await expect(controller({})).rejects.toThrow(/`wasm` option must be a URL/);
  });

  it("a failed load is tried again", async () => {
    let up = false;
    const flaky = createServer((_req, res) => (up ? res.writeHead(200).end(BYTES) : res.writeHead(503).end()));
    await new Promise<void>((r) => flaky.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/hotpath.wasm`;
    try {
      await expect(hotPathModule(url)).rejects.toThrow(/HTTP 503/);
      up = true;
      await expect(hotPathModule(url)).resolves.toBeInstanceOf(WebAssembly.Module);
    } finally {
      await new Promise<void>((r) => flaky.close(() => r()));
    }
  });
});
