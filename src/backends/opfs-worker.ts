// Worker entry of the persistent disk: owns the disk's two files in the Origin Private File System
// (directory "v86-nvme": NAME.data and NAME.map) through FileSystemSyncAccessHandles, which only
// dedicated workers may open, and serves the requests of opfs-protocol.ts.

import { DiskFileServer, type DiskFiles, type Request, type SyncHandle } from "./opfs-protocol.ts";

export const OPFS_DIRECTORY = "v86-nvme";

type SyncFileHandle = { createSyncAccessHandle(): Promise<SyncHandle> };

async function directory(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(OPFS_DIRECTORY, { create: true });
}

async function handle(dir: FileSystemDirectoryHandle, file: string): Promise<SyncHandle> {
  const fh = (await dir.getFileHandle(file, { create: true })) as unknown as SyncFileHandle;
  try {
    return await fh.createSyncAccessHandle();
  } catch (e) {
    if ((e as { name?: string }).name === "NoModificationAllowedError") {
      throw new Error(`${file} is open elsewhere (another tab?): a persistent disk can be used by one page at a time`);
    }
    throw e;
  }
}

const files: DiskFiles = {
  async open(name) {
    const dir = await directory();
    const data = await handle(dir, `${name}.data`);
    try {
      return { data, map: await handle(dir, `${name}.map`) };
    } catch (e) {
      await data.close();
      throw e;
    }
  },
  async sweep(prefix) {
    const dir = await directory();
    let n = 0;
    for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) {
      if (!name.startsWith(prefix)) continue;
      try {
        // A file with an open access handle (a page using it) refuses: NoModificationAllowedError.
        await dir.removeEntry(name);
        n++;
      } catch {
        // in use, or gone meanwhile
      }
    }
    return n;
  },
  async remove(name) {
    const dir = await directory();
    for (const f of [`${name}.data`, `${name}.map`]) {
      try {
        await dir.removeEntry(f);
      } catch (e) {
        if ((e as { name?: string }).name !== "NotFoundError") throw e;
      }
    }
  },
};

const scope = self as unknown as {
  postMessage(m: unknown, transfer: Transferable[]): void;
  onmessage: ((e: MessageEvent<Request>) => void) | null;
};
const server = new DiskFileServer(files, (r, transfer) => scope.postMessage(r, transfer));
scope.onmessage = (e) => server.receive(e.data);
