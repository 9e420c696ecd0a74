// The channel to a disk worker (opfs-worker.ts), shared by the persistent disk (opfs.ts) and the
// overlay's spill store (spill.ts): requests numbered and posted in order, each reply handed to
// the call that asked.

import type { Endpoint, Reply, Request } from "./opfs-protocol.ts";

type Pending = (r: Reply) => void;
/** A request before the channel numbers it. */
type Unnumbered = Request extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

/** Requests and their replies, in order, over one endpoint (the persistent disk's and the overlay spill's). */
export class Channel {
  private next = 1;
  private readonly waiting = new Map<number, Pending>();

  /** Set when the worker died: every call fails with it from then on. */
  private broken: string | undefined;

  constructor(readonly endpoint: Endpoint) {
    endpoint.onmessage = (e: MessageEvent) => {
      const r = e.data as Reply;
      const w = this.waiting.get(r.id);
      if (!w) return;
      this.waiting.delete(r.id);
      w(r);
    };
    // A Worker whose script failed (no OPFS, a load error) would otherwise leave every call waiting.
    const w = endpoint as { onerror?: ((e: ErrorEvent) => void) | null };
    if ("onerror" in w) {
      w.onerror = (e: ErrorEvent) => {
        e.preventDefault?.();
        this.broken = `the disk worker failed: ${e.message || "script error"}`;
        const waiting = [...this.waiting];
        this.waiting.clear();
        for (const [id, f] of waiting) f({ id, ok: false, error: this.broken, kind: "write" });
      };
    }
  }

  /** Posts now (so the order of calls is the order the worker sees); resolves with the reply. */
  call(req: Unnumbered, transfer: Transferable[] = []): Promise<Reply> {
    const id = this.next++;
    if (this.broken) return Promise.resolve({ id, ok: false, error: this.broken, kind: "write" });
    return new Promise<Reply>((resolve) => {
      this.waiting.set(id, resolve);
      this.endpoint.postMessage({ ...req, id }, transfer);
    });
  }
}

/** A new worker serving files in the Origin Private File System (the one place its URL is written, for the library build). */
export function startDiskWorker(): Worker {
  return new Worker(new URL("./opfs-worker.ts", import.meta.url), { type: "module" });
}
