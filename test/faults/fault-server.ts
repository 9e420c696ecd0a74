// A local HTTP server on 127.0.0.1 serving a virtual pattern image with Range, and misbehaving on
// demand: `mode` decides each GET's answer (a test flips it between commands).

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { fillPattern } from "../backends/conformance.ts";

export type Mode =
  | "ok"
  | "500" // an error status
  | "503" // another 5xx
  | "404" // a permanent error status
  | "cut" // headers promise the range, half the body comes, then the connection drops
  | "short" // a 206 that declares and sends only half the range (Content-Length agrees with the body)
  | "short-range" // a 206 whose Content-Range covers less than asked, with that body
  | "shifted" // a 206 for bytes 512 further on, saying so in Content-Range
  | "ignore-range" // 200 with the whole image
  | "stall" // headers, then silence
  | "stall-headers" // no answer at all
  | "reset"; // the connection is destroyed before any answer

export interface FaultServer {
  url: string;
  size: number;
  mode: Mode;
  /** Decides the mode of the n-th GET after the size probe (1-based) instead of `mode`. */
  modeFor?: (n: number) => Mode;
  etag: string | undefined;
  /** The body served at `${url}.boot-trace.json` (404 while undefined); those requests are not logged. */
  trace: string | undefined;
  /** GETs seen after the size probe, with their Range headers. */
  log: string[];
  close(): Promise<void>;
}

export async function faultServer(size: number, etag?: string): Promise<FaultServer> {
  const sockets = new Set<Socket>();
  const state: FaultServer = { url: "", size, mode: "ok", etag, trace: undefined, log: [], close: async () => {} };
  const body = (res: ServerResponse, start: number, end: number) => {
    res.end(fillPattern(start, new Uint8Array(Math.max(0, end - start))));
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.endsWith(".boot-trace.json")) {
      if (state.trace === undefined) return void res.writeHead(404).end();
      return void res.writeHead(200, { "Content-Type": "application/json" }).end(state.trace);
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    const common: Record<string, string> = { "Content-Type": "application/octet-stream" };
    if (state.etag) common.ETag = state.etag;
    if (req.method === "HEAD") return void res.writeHead(200, { ...common, "Content-Length": String(size) }).end();
    const start = m ? Number(m[1]) : 0;
    const end = m ? Math.min(Number(m[2]) + 1, size) : size;
    // The size probe (bytes 0-511) is always answered properly.
    const probe = start === 0 && end === Math.min(512, size);
    const mode = probe ? "ok" : (state.modeFor?.(state.log.length + 1) ?? state.mode);
    if (!probe) state.log.push(`${req.headers.range ?? "-"} ${mode}`);
    const range = (s: number, e: number) => ({ ...common, "Content-Range": `bytes ${s}-${e - 1}/${size}`, "Content-Length": String(e - s) });
    switch (mode) {
      case "500":
      case "503":
      case "404":
        return void res.writeHead(Number(mode)).end("nope");
      case "reset":
        return void req.socket.destroy();
      case "stall-headers":
        return;
      case "stall":
        res.writeHead(206, range(start, end));
        res.flushHeaders();
        return;
      case "cut":
        res.writeHead(206, range(start, end));
        res.write(fillPattern(start, new Uint8Array(Math.floor((end - start) / 2))));
        setTimeout(() => req.socket.destroy(), 5);
        return;
      case "short": {
        const half = start + Math.floor((end - start) / 2);
        res.writeHead(206, { ...common, "Content-Range": `bytes ${start}-${end - 1}/${size}`, "Content-Length": String(half - start) });
        return body(res, start, half);
      }
      case "short-range":
        res.writeHead(206, range(start, end - 512));
        return body(res, start, end - 512);
      case "shifted":
        res.writeHead(206, range(start + 512, Math.min(end + 512, size)));
        return body(res, start + 512, Math.min(end + 512, size));
      case "ignore-range":
        res.writeHead(200, { ...common, "Content-Length": String(size) });
        return body(res, 0, size);
      case "ok":
        if (!m) {
          res.writeHead(200, { ...common, "Content-Length": String(size) });
          return body(res, 0, size);
        }
        res.writeHead(206, range(start, end));
        return body(res, start, end);
    }
  };
  const server = createServer(handle);
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/disk.img`;
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return state;
}
