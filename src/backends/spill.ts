// Where an overlay's pages go when memory is over its budget: a scratch file in the Origin Private
// File System, served by the persistent disk's worker and protocol (its map file stays empty).
// The file is the page's only: a random name, removed on close; files left by pages that ended
// without closing are removed by the next page that spills (open ones are locked and stay). Writes
// and reads are answered in the order they were posted, so a read sees every write posted before it.

import { Channel, startDiskWorker } from "./disk-worker.ts";
import { SPILL_PREFIX as PREFIX, type Reply } from "./opfs-protocol.ts";

export interface SpillStore {
  /**
   * Stores the first `length` bytes of `buffer` (handed over: the caller no longer uses it) at
   * `offset`; resolves once written, with the buffer given back for reuse where it can be.
   */
  write(offset: number, buffer: ArrayBuffer, length: number): Promise<ArrayBuffer | undefined>;
  /**
   * The bytes at [offset, offset+length), as written by every write posted before; read into
   * `into` (handed over) where it is large enough, so the caller can keep reusing a few buffers.
   */
  read(offset: number, length: number, into?: ArrayBuffer): Promise<Uint8Array>;
  /** Removes the file; pending calls are answered first. */
  close(): Promise<void>;
}

const why = (r: Reply) => new Error(r.ok ? "no data in the reply" : r.error);

class OpfsSpillStore implements SpillStore {
  private constructor(
    private readonly channel: Channel,
    private readonly worker: Worker,
    private readonly name: string,
  ) {}

  static async open(): Promise<OpfsSpillStore> {
    const worker = startDiskWorker();
    const channel = new Channel(worker);
    const name = `${PREFIX}${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    // Files left by pages that ended without close(); those of open pages are locked and stay.
    await channel.call({ op: "sweep", prefix: PREFIX });
    const r = await channel.call({ op: "open", name });
    if (!r.ok) {
      worker.terminate();
      throw why(r);
    }
    return new OpfsSpillStore(channel, worker, name);
  }

  async write(offset: number, buffer: ArrayBuffer, length: number): Promise<ArrayBuffer | undefined> {
    const r = await this.channel.call({ op: "write", offset, data: buffer, length, fua: false, map: [], seen: 0, giveBack: true }, [buffer]);
    if (!r.ok) throw why(r);
    return r.data;
  }

  async read(offset: number, length: number, into?: ArrayBuffer): Promise<Uint8Array> {
    const r = await this.channel.call({ op: "read", offset, length, into }, into ? [into] : []);
    if (!r.ok || !r.data) throw why(r);
    return new Uint8Array(r.data, 0, length);
  }

  async close(): Promise<void> {
    try {
      await this.channel.call({ op: "close" });
      await this.channel.call({ op: "remove", name: this.name });
    } finally {
      this.worker.terminate();
    }
  }
}

/** Opens a spill file, where this page has the Origin Private File System and workers; else undefined. */
export function openSpillStore(): (() => Promise<SpillStore>) | undefined {
  const storage = (globalThis as { navigator?: { storage?: { getDirectory?: unknown } } }).navigator?.storage;
  if (typeof Worker === "undefined" || typeof storage?.getDirectory !== "function") return undefined;
  return () => OpfsSpillStore.open();
}
