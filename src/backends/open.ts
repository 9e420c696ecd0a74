// One declarative description of a disk, for pages and options that let the user choose:
// `await openDisk({ kind: "http", url })`, or a persistent disk over any of the others.

import type { BlockBackend } from "./block-backend.ts";
import { MemoryBackend } from "./memory.ts";
import { FileBackend, type BlobLike, type FileBackendOptions } from "./file.ts";
import { HttpBackend, type HttpDiskOptions } from "./http.ts";
import { OpfsBackend, type OpfsDiskOptions } from "./opfs.ts";

export type DiskSpec =
  | { kind: "memory"; size: number; data?: ArrayBuffer | Uint8Array }
  | ({ kind: "file"; file: BlobLike } & FileBackendOptions)
  | ({ kind: "http"; url: string } & HttpDiskOptions)
  | ({ kind: "opfs"; base?: Exclude<DiskSpec, { kind: "opfs" }> } & Omit<OpfsDiskOptions, "base">);

/** A short text naming a disk's source, stable across reloads (an OPFS overlay's baseId). */
export function describeDisk(spec: Exclude<DiskSpec, { kind: "opfs" }>): string {
  switch (spec.kind) {
    case "memory": return `memory:${spec.size}`;
    case "file": {
      const f = spec.file as BlobLike & { name?: string; lastModified?: number };
      return `file:${f.name ?? "blob"}:${f.size}:${f.lastModified ?? 0}`;
    }
    case "http": return `http:${spec.url}${spec.size !== undefined ? `:${spec.size}` : ""}`;
  }
}

/** Opens the disk a spec describes. */
export async function openDisk(spec: DiskSpec): Promise<BlockBackend> {
  switch (spec.kind) {
    case "memory":
      return spec.data ? new MemoryBackend(spec.size, spec.data) : new MemoryBackend(spec.size);
    case "file":
      return new FileBackend(spec.file, spec);
    case "http":
      return HttpBackend.open(spec.url, spec);
    case "opfs": {
      const { base, kind: _kind, ...rest } = spec;
      const source = base ? await openDisk(base) : undefined;
      return OpfsBackend.open({ ...rest, base: source, baseId: rest.baseId ?? (base ? describeDisk(base) : undefined) });
    }
  }
}
