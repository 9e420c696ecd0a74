// Local HTTP servers on 127.0.0.1 serving a virtual disk image (the conformance pattern, so any
// size costs nothing): one honouring Range, one ignoring it, and hooks to fail, cut, or falsify
// chosen answers. Every request is counted and logged; close() ends open connections too.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fillPattern } from "./conformance.ts";

/** What to do with one request: undefined answers it properly. */
export type Fault = "500" | "cut" | "wrong-range" | "wrong-total" | "too-long" | "ignore-range" | undefined;

export interface ImageServerOptions {
  size: number;
  /** Answer every GET with 200 and the whole image, as a server without Range support does. */
  ignoreRange?: boolean;
  /** Leave Content-Range out of 206 answers (as a cross-origin server that does not expose it looks). */
  hideContentRange?: boolean;
  /** Serve pre-split parts at `${path}.{start}-{end}` (inclusive end) instead of Range. */
  parts?: { chunk: number };
  /** Decides a fault for request number `n` (1-based) with its byte range. */
  fault?: (n: number, start: number, end: number) => Fault;
  etag?: () => string | undefined;
  lastModified?: string;
  /** The body served at `${url}.boot-trace.json` (404 without); counted and logged like the rest. */
  trace?: string;
  /** Extra delay before each answer, in ms (a slow link's round trip). */
  latencyMs?: number;
  /** Body bytes per second, shared by all answers (a slow link's bandwidth). */
  bytesPerSecond?: number;
  /** Like sirv (vite's static server): "bytes=0-0" is read as "from 0 to the end". */
  zeroEndMeansAll?: boolean;
}

export interface ImageServer {
  url: string;
  /** GET and HEAD requests seen. */
  requests: number;
  /** Most requests being answered at once. */
  maxActive: number;
  /** Body bytes sent in all answers. */
  bytesSent: number;
  log: string[];
  close(): Promise<void>;
}

const PATH = "/disk.img";
const PIECE = 64 * 1024;

/** A link's bandwidth shared by all answers: waits for the time `n` bytes take after those before them. */
function link(bytesPerSecond: number | undefined): (n: number) => Promise<void> {
  let free = 0;
  return async (n) => {
    if (!bytesPerSecond) return;
    free = Math.max(free, performance.now()) + (n / bytesPerSecond) * 1000;
    await new Promise((r) => setTimeout(r, free - performance.now()));
  };
}

/** Writes pattern bytes [start, end) in pieces, honouring back-pressure (and the link's bandwidth). */
async function sendPattern(res: ServerResponse, start: number, end: number, shift = 0, pace?: (n: number) => Promise<void>): Promise<void> {
  for (let p = start; p < end; p += PIECE) {
    const n = Math.min(PIECE, end - p);
    await pace?.(n);
    if (!res.write(fillPattern(p + shift, new Uint8Array(n)))) await new Promise((r) => res.once("drain", r));
  }
  res.end();
}

export async function imageServer(o: ImageServerOptions): Promise<ImageServer> {
  const state: ImageServer = { url: "", requests: 0, maxActive: 0, bytesSent: 0, log: [], close: async () => {} };
  let active = 0;
  const pace = link(o.bytesPerSecond);
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const n = ++state.requests;
    active++;
    state.maxActive = Math.max(state.maxActive, active);
    res.once("close", () => active--);
    const write = res.write.bind(res) as (c: Uint8Array) => boolean;
    res.write = ((c: Uint8Array) => {
      state.bytesSent += c.length;
      return write(c);
    }) as typeof res.write;
    const etag = o.etag?.();
    const common: Record<string, string> = { "Content-Type": "application/octet-stream" };
    if (etag) common.ETag = etag;
    if (o.lastModified) common["Last-Modified"] = o.lastModified;
    const path = new URL(req.url ?? "/", "http://x").pathname;
    state.log.push(`${req.method} ${path} ${req.headers.range ?? ""}`.trim());
    if (o.latencyMs) await new Promise((r) => setTimeout(r, o.latencyMs));
    if (path === `${PATH}.boot-trace.json` && o.trace !== undefined) return void res.writeHead(200, { "Content-Type": "application/json" }).end(o.trace);
    if (o.parts) {
      const m = /^\/disk\.img\.(\d+)-(\d+)$/.exec(path);
      const start = m ? Number(m[1]) : -1;
      const end = m ? Number(m[2]) + 1 : -1;
      if (!m || start % o.parts.chunk !== 0 || end > o.size || end - start !== Math.min(o.parts.chunk, o.size - start)) {
        res.writeHead(404).end();
        return;
      }
      const f = o.fault?.(n, start, end);
      if (f === "500") return void res.writeHead(500).end();
      res.writeHead(200, { ...common, "Content-Length": String(end - start) });
      return sendPattern(res, start, f === "cut" ? start + Math.floor((end - start) / 2) : end);
    }
    if (path !== PATH) return void res.writeHead(404).end();
    if (req.method === "HEAD") return void res.writeHead(200, { ...common, "Content-Length": String(o.size), "Accept-Ranges": "bytes" }).end();
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    let start = m ? Number(m[1]) : 0;
    let end = m ? Math.min(Number(m[2]) + 1, o.size) : o.size;
    if (m && o.zeroEndMeansAll && Number(m[2]) === 0) end = o.size;
    const f = o.fault?.(n, start, end);
    if (f === "500") return void res.writeHead(500).end("broken");
    if (!m || o.ignoreRange || f === "ignore-range") {
      res.writeHead(200, { ...common, "Content-Length": String(o.size) });
      return sendPattern(res, 0, o.size);
    }
    if (start >= o.size) return void res.writeHead(416, { "Content-Range": `bytes */${o.size}` }).end();
    let total = o.size;
    let extra = 0;
    if (f === "wrong-range") {
      start += 512;
      end = Math.min(end + 512, o.size);
    }
    if (f === "wrong-total") total = o.size + 4096;
    if (f === "too-long") extra = 512;
    const headers: Record<string, string> = { ...common, "Content-Length": String(end - start + extra) };
    if (!o.hideContentRange) headers["Content-Range"] = `bytes ${start}-${end - 1}/${total}`;
    res.writeHead(206, headers);
    if (f === "cut") {
      // Headers promise the whole range; the connection drops halfway.
      res.write(fillPattern(start, new Uint8Array(Math.floor((end - start) / 2))));
      setTimeout(() => res.socket?.destroy(), 5);
      return;
    }
    return sendPattern(res, start, end + extra, 0, pace);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.socket?.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}${PATH}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}
