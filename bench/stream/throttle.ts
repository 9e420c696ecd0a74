// A slow network link on 127.0.0.1: a TCP proxy in front of an HTTP server that adds a round-trip
// time to every request and limits the bandwidth of all its connections together.
//
// Each client connection gets its own upstream connection (so HTTP/1.1 keep-alive and the
// browser's per-host connection limit work as they would against the real server); nothing is
// parsed. Bytes from the client reach the server `rttMs` later, in order: a request's first
// answer byte therefore comes one round trip after it was sent, and a new connection costs one
// more (its handshake). Bytes from the server go through one token bucket per link, served
// round-robin over the connections in pieces of 4 KiB, so parallel downloads share the link's
// bandwidth as TCP flows roughly do.

import { connect, createServer, type Socket } from "node:net";

export interface LinkSpec {
  name: string;
  /** Round-trip time added to every request (ms). */
  rttMs: number;
  /** Bandwidth of the link, all connections together (Mbit/s). */
  mbit: number;
}

export interface Throttle {
  readonly port: number;
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  /** Connections accepted and bytes sent to clients so far. */
  stats(): { connections: number; bytesDown: number };
  stop(): Promise<void>;
}

const PIECE = 4096;
/** Bytes queued for one client before its upstream is paused. */
const HIGH = 1 << 20;

/** A token bucket shared by the connections of one link, draining their queues round-robin. */
class Link {
  private tokens: number;
  private last = performance.now();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly queues = new Map<Socket, { pieces: Buffer[]; bytes: number; drained: () => void }>();
  bytesDown = 0;

  constructor(
    private readonly bytesPerMs: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  send(to: Socket, data: Buffer, drained: () => void): number {
    let q = this.queues.get(to);
    if (!q) this.queues.set(to, (q = { pieces: [], bytes: 0, drained }));
    for (let i = 0; i < data.length; i += PIECE) q.pieces.push(data.subarray(i, i + PIECE));
    q.bytes += data.length;
    this.pump();
    return q.bytes;
  }

  /** Bytes still queued for `to`. */
  queued(to: Socket): number {
    return this.queues.get(to)?.bytes ?? 0;
  }

  forget(to: Socket): void {
    this.queues.delete(to);
  }

  private pump(): void {
    if (this.timer) return;
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.bytesPerMs);
    this.last = now;
    let sent = true;
    while (sent) {
      sent = false;
      for (const [sock, q] of this.queues) {
        const piece = q.pieces[0];
        if (!piece) continue;
        if (this.tokens < piece.length) break;
        q.pieces.shift();
        q.bytes -= piece.length;
        this.tokens -= piece.length;
        this.bytesDown += piece.length;
        sent = true;
        if (!sock.destroyed) sock.write(piece);
        if (!q.pieces.length) {
          this.queues.delete(sock);
          q.drained();
        } else {
          // Round-robin: this connection goes to the back.
          this.queues.delete(sock);
          this.queues.set(sock, q);
        }
      }
    }
    if (this.queues.size) {
      const need = Math.max(1, (PIECE - this.tokens) / this.bytesPerMs);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, need);
    }
  }
}

/** Starts a throttled proxy for `link` in front of 127.0.0.1:`targetPort`. */
export async function startThrottle(targetPort: number, link: LinkSpec): Promise<Throttle> {
  if (!(link.rttMs >= 0) || !(link.mbit > 0)) throw new Error(`bad link ${JSON.stringify(link)}`);
  const bytesPerMs = (link.mbit * 1e6) / 8 / 1000;
  const shaper = new Link(bytesPerMs, 16 * PIECE);
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((client) => {
    connections++;
    sockets.add(client);
    client.setNoDelay(true);
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(upstream);
    upstream.setNoDelay(true);
    let upstreamEnded = false;
    const close = (): void => {
      shaper.forget(client);
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    // Client → server, one round trip late (the first bytes also wait for the handshake's).
    const open = performance.now() + link.rttMs;
    let due = 0;
    client.on("data", (d) => {
      due = Math.max(due, Math.max(open, performance.now()) + link.rttMs);
      setTimeout(() => upstream.destroyed || upstream.write(d), due - performance.now());
    });
    client.on("end", () => setTimeout(() => upstream.end(), Math.max(0, due - performance.now())));
    // Server → client through the link's bucket; the server waits while much is queued.
    const drained = (): void => {
      if (upstream.isPaused()) upstream.resume();
      if (upstreamEnded) client.end();
    };
    upstream.on("data", (d: Buffer) => {
      if (shaper.send(client, d, drained) > HIGH) upstream.pause();
    });
    upstream.on("end", () => {
      upstreamEnded = true;
      if (!shaper.queued(client)) client.end();
    });
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", () => {
      if (!shaper.queued(client)) close();
    });
  });
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(0, "127.0.0.1", () => res());
  });
  const a = server.address();
  const port = typeof a === "object" && a ? a.port : 0;
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    stats: () => ({ connections, bytesDown: shaper.bytesDown }),
    stop: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}
