// The disk the page boots: what the user chose (remembered in localStorage), how it is opened
// (an image URL read with Range requests or downloaded whole, a picked file read lazily, and
// optionally a persistent disk in the Origin Private File System over either), and an honest
// account of what survives a reload.

import {
  describeDisk, FileBackend, FROM_BASE, FROM_FILE, FROM_ZERO, HttpBackend, isWebPage, OpfsBackend, OpfsMismatchError,
  type BlockBackend, type CowBackend, type HttpDiskOptions,
} from "../index.ts";
import { fetchWithProgress, formatBytes, type OnProgress } from "./loader.ts";
import { imageBackend } from "./machine.ts";

export const DEFAULT_IMAGE = "/guest/disk.img";
const STORAGE_KEY = "v86-nvme.disk";

/** What the user picked; everything but the File itself survives a reload. */
export interface DiskChoice {
  /** The bundled image, an image URL, or a file from the user's disk. */
  source: "default" | "url" | "file";
  /** The image URL (source "url"). */
  url: string;
  /** Images over HTTP: read on demand with Range requests, or downloaded whole before booting. */
  read: "lazy" | "download";
  /** Keep the disk's changes in the browser (a persistent disk over the image). */
  persistent: boolean;
  /** With `persistent`: also copy the whole image into browser storage in the background. */
  copy: boolean;
  /** The picked file's identity (name, size, modification time): it names its persistent disk. */
  file?: { name: string; size: number; lastModified: number };
}

export const defaultChoice = (): DiskChoice => ({ source: "default", url: "", read: "lazy", persistent: false, copy: false });

export function loadChoice(): DiskChoice {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    if (!raw) return defaultChoice();
    const c = { ...defaultChoice(), ...(JSON.parse(raw) as Partial<DiskChoice>) };
    if (!["default", "url", "file"].includes(c.source)) c.source = "default";
    if (c.read !== "download") c.read = "lazy";
    c.persistent = !!c.persistent;
    c.copy = !!c.copy;
    if (c.source === "url" && !c.url) c.source = "default";
    if (c.source === "file" && !c.file) c.source = "default";
    return c;
  } catch {
    return defaultChoice();
  }
}

export function saveChoice(c: DiskChoice): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(c));
  } catch {
    // storage disabled: the choice lasts until the page closes
  }
}

/** The image URL a choice reads (absolute, so it names the same image from any page). */
export function imageUrl(c: DiskChoice): string {
  const u = c.source === "url" ? c.url.trim() : DEFAULT_IMAGE;
  return new URL(u, location.href).href;
}

/** Short display name of the base image. */
export function baseName(c: DiskChoice): string {
  if (c.source === "file") return c.file?.name ?? "file";
  const path = new URL(imageUrl(c)).pathname;
  return decodeURIComponent(path.slice(path.lastIndexOf("/") + 1)) || "image";
}

/** What identifies the base across reloads; also names its persistent disk. */
export function baseId(c: DiskChoice): string {
  if (c.source === "file") {
    // describeDisk reads only the identity of a file (name, size, modification time).
    const f = c.file ?? { name: "file", size: 0, lastModified: 0 };
    const identity = { ...f, slice: (): never => { throw new Error("not read"); } };
    return describeDisk({ kind: "file", file: identity });
  }
  return describeDisk({ kind: "http", url: imageUrl(c) });
}

/** FNV-1a, 32 bits, as 8 hex digits. */
function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** The persistent disk of a base: one per image, so switching images never drops another's changes. */
export function persistentName(c: DiskChoice): string {
  return `page-${hash(baseId(c))}`;
}

/** An image URL that answers with a web page (a wrong path under a dev server answers index.html). */
export class WebPageError extends Error {
  constructor(url: string) {
    super(`${url} serves a web page, not a disk image`);
  }
}

/** An open disk and how to describe it. */
export interface OpenDisk {
  backend: BlockBackend;
  /** The persistent disk, when there is one (`backend` itself). */
  opfs?: OpfsBackend;
  /** The base under the overlay (HTTP, file or memory); absent for a persistent disk copied in whole before. */
  base?: BlockBackend;
  choice: DiskChoice;
  /** Display name of the image. */
  name: string;
  /** How the base is read, in a few words. */
  how: string;
  /** The persistent disk's name. */
  persistentName?: string;
  close(): Promise<void>;
}

/** Raised when a remembered persistent disk needs its file again (the page cannot keep a File). */
export class NeedFileError extends Error {}

export interface OpenEvents {
  /** Long steps: downloading the image, copying it into browser storage. */
  progress(what: "download" | "copy", label: string, loaded: number, total: number): void;
  /** The background copy ended (error: it failed; the disk goes on as an overlay). */
  copied(error?: unknown): void;
  status(text: string): void;
}

/**
 * Opens the chosen disk. `file` is the picked File (source "file"; absent after a reload).
 * `reset` drops the persistent disk's stored changes first.
 */
export async function openChosenDisk(c: DiskChoice, file: File | undefined, on: OpenEvents, reset = false, http: HttpDiskOptions = {}): Promise<OpenDisk> {
  const name = baseName(c);
  let base: BlockBackend | undefined;
  let how: string;
  let baseError: unknown;
  const what = c.source === "default" ? "the bundled image" : imageUrl(c);
  if (c.source === "file") {
    how = "a file on this computer, read as needed";
    if (file) base = new FileBackend(file);
  } else {
    how = c.read === "lazy" ? `${what}, read as needed with HTTP Range requests` : `${what}, downloaded into memory`;
    try {
      const url = imageUrl(c);
      if (c.read === "lazy") {
        on.status(`opening ${url}`);
        base = await HttpBackend.open(url, http);
      } else {
        const progress: OnProgress = (p) => on.progress("download", `downloading ${name}`, p.loaded, p.total);
        const bytes = await fetchWithProgress(url, progress, {
          check: (res) => {
            if (isWebPage(res.headers.get("content-type"))) throw new WebPageError(url);
          },
        });
        if (isWebPage(null, new Uint8Array(bytes, 0, Math.min(bytes.byteLength, 512)))) throw new WebPageError(url);
        base = imageBackend(bytes);
      }
    } catch (e) {
      // A persistent disk that holds the whole image boots without it (say, offline).
      if (!c.persistent || reset) throw e;
      baseError = e;
    }
  }
  if (!c.persistent) {
    if (!base) throw new NeedFileError(`Pick ${name} again: a page cannot keep a file across a reload.`);
    const b = base;
    return { backend: b, base: b, choice: c, name, how, close: async () => {} };
  }
  const pname = persistentName(c);
  if (reset) {
    on.status("dropping the persistent disk's changes");
    await OpfsBackend.remove(pname);
  }
  on.status("opening the persistent disk");
  let opfs: OpfsBackend;
  try {
    opfs = await OpfsBackend.open({
      name: pname,
      base,
      // An image served over HTTP is named by its version too: one rebuilt at the same URL is refused.
      baseId: base instanceof HttpBackend ? base.identity : baseId(c),
      seed: c.copy ? "copy" : "overlay",
      onProgress: (done, total) => on.progress("copy", `copying ${name} into browser storage`, done, total),
    });
  } catch (e) {
    if (baseError) throw baseError;
    if (!base && e instanceof OpfsMismatchError) {
      throw new NeedFileError(`Pick ${name} again: its persistent disk still reads the blocks the guest never wrote from it.`);
    }
    if (!base) {
      // Nothing stored for this file yet (or a stale choice): the file is needed either way.
      throw new NeedFileError(`Pick ${name} again: a page cannot keep a file across a reload.`);
    }
    throw e;
  }
  if (c.copy) opfs.copied.then(() => on.copied(), (e) => on.copied(e));
  return {
    backend: opfs,
    opfs,
    base,
    choice: c,
    name,
    how,
    persistentName: pname,
    close: () => opfs.close(),
  };
}

/** Where the disk's bytes are now: written (stored in the browser, or held in memory), zeroed, still in the image. */
export function diskUsage(d: OpenDisk): { written: number; zeroed: number; fromBase: number; queued: number } {
  if (d.opfs) {
    const m = d.opfs.map;
    const bs = d.opfs.blockSize;
    return {
      written: m.count(0, m.blocks, FROM_FILE) * bs,
      zeroed: m.count(0, m.blocks, FROM_ZERO) * bs,
      fromBase: m.header.detached ? 0 : m.count(0, m.blocks, FROM_BASE) * bs,
      queued: d.opfs.queued,
    };
  }
  const cow = d.backend as Partial<CowBackend>;
  return { written: cow.overlay?.residentBytes ?? 0, zeroed: 0, fromBase: cow.overlay ? d.backend.byteLength : 0, queued: 0 };
}

/** Two lines about the disk in use: where its bytes come from, and what a write and a reload mean. */
export function describeInUse(d: OpenDisk): { source: string; durability: string; detail: string } {
  const size = formatBytes(d.backend.byteLength);
  if (d.opfs) {
    const m = d.opfs.map;
    const u = diskUsage(d);
    const detached = m.header.detached || !m.header.hasBase;
    const http = d.base instanceof HttpBackend && !detached ? ` · fetched ${formatBytes(d.base.stats.bytesFetched)} of the image in ${d.base.stats.requests} requests` : "";
    return {
      source: `persistent disk "${d.persistentName}" (${size}) over ${d.name}: ${detached ? "all of it stored in this browser, the image is no longer needed" : d.how}`,
      durability:
        "Volatile write cache: present. A completed write is queued for browser storage; the guest's flush (sync, journal commits, FUA writes) makes it durable. " +
        "What a flush covered survives a reload, a closed tab and a browser crash.",
      detail: `in browser storage: ${formatBytes(u.written)} written, ${formatBytes(u.zeroed)} zeroed${detached ? "" : `, ${formatBytes(u.fromBase)} still read from the image`}${u.queued ? ` · ${formatBytes(u.queued)} queued` : ""}${http}`,
    };
  }
  const cow = d.backend as Partial<CowBackend>;
  const http = d.backend instanceof HttpBackend ? d.backend.stats : undefined;
  const parts = [cow.overlay ? `written (in memory): ${formatBytes(cow.overlay.residentBytes)}` : "the whole image is in memory"];
  if (http) parts.push(`fetched ${formatBytes(http.bytesFetched)} in ${http.requests} requests`);
  return {
    source: `${d.name} (${size}): ${d.how}`,
    durability:
      "Volatile write cache: absent. Every completed write is already as durable as it gets here, in this page's memory; " +
      "nothing survives a reload (turn on the persistent disk, or export).",
    detail: parts.join(" · "),
  };
}
