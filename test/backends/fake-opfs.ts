// An in-memory stand-in for the Origin Private File System as the disk worker sees it: sparse
// files with a durable state that only flush() advances (crash() throws away the rest), a quota,
// exclusive access handles, and a message channel that delivers asynchronously and transfers
// buffers (detaching them) like postMessage does. Runs the real worker-side DiskFileServer.

import { DiskFileServer, type DiskFiles, type Endpoint, type Reply, type Request, type SyncHandle } from "../../src/backends/opfs-protocol.ts";

const CHUNK = 64 * 1024;

class FakeFile {
  /** What reads see. */
  live = new Map<number, Uint8Array>();
  liveSize = 0;
  /** What survives a crash. */
  durable = new Map<number, Uint8Array>();
  durableSize = 0;
  dirty = new Set<number>();
  locked = false;

  read(dst: Uint8Array, at: number): number {
    const n = Math.max(0, Math.min(dst.length, this.liveSize - at));
    dst.fill(0);
    for (let done = 0; done < n; ) {
      const pos = at + done;
      const ci = Math.floor(pos / CHUNK);
      const o = pos - ci * CHUNK;
      const len = Math.min(n - done, CHUNK - o);
      const c = this.live.get(ci);
      if (c) dst.set(c.subarray(o, o + len), done);
      done += len;
    }
    return n;
  }

  write(src: Uint8Array, at: number): void {
    for (let done = 0; done < src.length; ) {
      const pos = at + done;
      const ci = Math.floor(pos / CHUNK);
      const o = pos - ci * CHUNK;
      const len = Math.min(src.length - done, CHUNK - o);
      let c = this.live.get(ci);
      if (!c) this.live.set(ci, (c = new Uint8Array(CHUNK)));
      c.set(src.subarray(done, done + len), o);
      this.dirty.add(ci);
      done += len;
    }
    this.liveSize = Math.max(this.liveSize, at + src.length);
  }

  flush(): void {
    for (const ci of this.dirty) this.durable.set(ci, this.live.get(ci)!.slice());
    this.dirty.clear();
    this.durableSize = this.liveSize;
  }

  crash(): void {
    this.live = new Map([...this.durable].map(([k, v]) => [k, v.slice()]));
    this.liveSize = this.durableSize;
    this.dirty.clear();
    this.locked = false;
  }
}

export class FakeOpfs implements DiskFiles {
  readonly files = new Map<string, FakeFile>();
  /** Most bytes all files may hold (by size, as browsers count it). */
  quota = Infinity;
  /** Makes data-file writes throw a plain I/O error. */
  failWrites = false;
  /** Calls into the file system, by kind. */
  readonly calls = { read: 0, write: 0, flush: 0, bytesWritten: 0 };

  private usage(): number {
    let n = 0;
    for (const f of this.files.values()) n += f.liveSize;
    return n;
  }

  private file(name: string): FakeFile {
    let f = this.files.get(name);
    if (!f) this.files.set(name, (f = new FakeFile()));
    return f;
  }

  private handle(name: string): SyncHandle {
    const f = this.file(name);
    if (f.locked) throw Object.assign(new Error(`${name} is locked`), { name: "NoModificationAllowedError" });
    f.locked = true;
    let open = true;
    const live = () => {
      if (!open) throw Object.assign(new Error("handle closed"), { name: "InvalidStateError" });
    };
    return {
      read: (buf, { at }) => {
        live();
        this.calls.read++;
        return f.read(buf, at);
      },
      write: (buf, { at }) => {
        live();
        if (this.failWrites && name.endsWith(".data")) throw Object.assign(new Error("I/O error"), { name: "InvalidModificationError" });
        const grow = Math.max(0, at + buf.length - f.liveSize);
        if (this.usage() + grow > this.quota) throw Object.assign(new Error("quota exceeded"), { name: "QuotaExceededError" });
        this.calls.write++;
        this.calls.bytesWritten += buf.length;
        f.write(buf, at);
        return buf.length;
      },
      flush: () => {
        live();
        this.calls.flush++;
        f.flush();
      },
      getSize: () => f.liveSize,
      truncate: (n) => {
        f.liveSize = n;
      },
      close: () => {
        open = false;
        f.locked = false;
      },
    };
  }

  async open(name: string) {
    const data = this.handle(`${name}.data`);
    try {
      return { data, map: this.handle(`${name}.map`) };
    } catch (e) {
      await data.close();
      throw e;
    }
  }

  async remove(name: string) {
    for (const f of [`${name}.data`, `${name}.map`]) {
      if (this.files.get(f)?.locked) throw Object.assign(new Error(`${f} is locked`), { name: "NoModificationAllowedError" });
      this.files.delete(f);
    }
  }

  /** A power cut: every file loses what was not flushed, every handle is gone. */
  crash(): void {
    for (const f of this.files.values()) f.crash();
  }

  /** Bytes the data file of `name` holds (its size). */
  dataSize(name: string): number {
    return this.files.get(`${name}.data`)?.liveSize ?? 0;
  }
}

/** A worker running DiskFileServer over `fs`, reached through an Endpoint; counts messages. */
export function fakeWorker(fs: DiskFiles) {
  const stats = { posted: 0, transferred: 0, replies: 0 };
  const main: Endpoint & { terminated: boolean } = {
    onmessage: null,
    terminated: false,
    postMessage(m: unknown, transfer: Transferable[]) {
      if (this.terminated) return;
      stats.posted++;
      stats.transferred += transfer.length;
      const copy = structuredClone(m, { transfer }) as Request; // detaches the sender's buffers
      setTimeout(() => server.receive(copy), 0);
    },
  };
  const server = new DiskFileServer(fs, (r: Reply, transfer) => {
    stats.replies++;
    const copy = structuredClone(r, { transfer });
    setTimeout(() => {
      if (!main.terminated) main.onmessage?.({ data: copy } as MessageEvent);
    }, 0);
  });
  return { endpoint: main, stats, kill: () => (main.terminated = true) };
}
