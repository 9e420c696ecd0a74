// File bytes between the test (Node) and the guest's page, over the page's own HTTP server on
// 127.0.0.1: the page fetches what putFile() offers and posts what getFile() returns, so a large
// file crosses as one HTTP body instead of a base64 string through the browser protocol.

import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

const PREFIX = "/transfer/";

export class Transfers {
  private readonly offered = new Map<string, Uint8Array>();
  private readonly awaited = new Map<string, (body: Buffer) => void>();

  /** Serves `bytes` once under the returned path (to be fetched by the page), until `done` is called. */
  offer(bytes: Uint8Array): { path: string; done: () => void } {
    const id = randomUUID();
    this.offered.set(id, bytes);
    return { path: `${PREFIX}${id}`, done: () => this.offered.delete(id) };
  }

  /** A path the page posts bytes to, and the bytes when they arrive (until `done` is called). */
  receive(): { path: string; body: Promise<Buffer>; done: () => void } {
    const id = randomUUID();
    const body = new Promise<Buffer>((resolve) => this.awaited.set(id, resolve));
    return { path: `${PREFIX}${id}`, body, done: () => this.awaited.delete(id) };
  }

  /** Answers a request for a transfer path; false when the request is not one. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (!path.startsWith(PREFIX)) return false;
    const id = path.slice(PREFIX.length);
    const bytes = this.offered.get(id);
    const resolve = this.awaited.get(id);
    if (req.method === "GET" && bytes) {
      res.writeHead(200, { "content-type": "application/octet-stream", "cache-control": "no-store" });
      res.end(bytes);
    } else if (req.method === "POST" && resolve) {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        resolve(Buffer.concat(chunks));
        res.writeHead(204).end();
      });
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end(`${path}: no such transfer`);
    }
    return true;
  }
}
