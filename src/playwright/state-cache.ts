// A directory of files built once and shared by every process that asks for them: Playwright's
// workers, and several runs at once on one machine or on a shared disk. The first process to ask
// for a missing entry takes its lock (a file created with O_EXCL) and builds it; the others wait
// until it appears. An entry is written beside its final name and renamed into place, so a reader
// never sees a torn file. A lock whose builder died (its process is gone, or it stopped touching
// the lock) is broken and the entry built again. Nothing here knows what the entries are.

import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

export interface CacheEntryOptions {
  /** The cache directory (created when missing). */
  dir: string;
  /** The entry's file name in `dir`. */
  name: string;
  /** Writes the entry to `tmp` (a fresh path in `dir`); the cache renames it into place. */
  build: (tmp: string) => Promise<void>;
  /** Called once when this process starts waiting for another one's build. */
  onWait?: (holder: LockHolder) => void;
  /**
   * Where a failed build leaves its error for the others (e.g. in the run's output directory):
   * while that file exists, asking for the entry throws CacheBuildError instead of building again.
   */
  failureFile?: string;
  /** A lock untouched for this long is taken to be abandoned (default 60 s; the builder touches it every staleMs / 4). */
  staleMs?: number;
  /** Waiting for another process's build gives up after this long with a CacheWaitError (default 10 min). */
  waitMs?: number;
  /** How often a waiting process looks (default 250 ms). */
  pollMs?: number;
}

/** Who holds a lock (the lock file's contents). */
export interface LockHolder {
  pid: number;
  host: string;
  /** Date.now() when taken. */
  since: number;
  nonce: string;
}

export interface CacheEntry {
  /** The entry's path. */
  path: string;
  /** "found": it was there; "built": this process built it; "waited": another process built it while this one waited. */
  how: "found" | "built" | "waited";
  /** Milliseconds spent building or waiting (0 when found). */
  ms: number;
}

/** Another process's build did not finish in time. */
export class CacheWaitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CacheWaitError";
  }
}

/** The entry's build failed (in this process or, through failureFile, in another). */
export class CacheBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CacheBuildError";
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function readHolder(lock: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(lock, "utf8")) as LockHolder;
    return typeof h.pid === "number" && typeof h.nonce === "string" ? h : undefined;
  } catch {
    return undefined; // gone, or being written right now
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether the lock's holder is gone: a dead process on this host, or no touch for staleMs. */
function abandoned(lock: string, holder: LockHolder | undefined, staleMs: number): boolean {
  let age: number;
  try {
    age = Date.now() - statSync(lock).mtimeMs;
  } catch {
    return false; // released meanwhile
  }
  if (holder && holder.host === hostname() && holder.pid !== process.pid && !processAlive(holder.pid)) return true;
  // A lock file caught between its creation and its contents is young; one that stays unreadable is stale too.
  return age > staleMs;
}

/**
 * Removes an abandoned lock, unless it changed since it was judged abandoned. Breakers take a lock
 * of their own first, so two of them never remove a lock one of them has just taken.
 */
function breakLock(lock: string, judged: LockHolder | undefined, staleMs: number): void {
  const breaker = `${lock}.break`;
  let fd: number;
  try {
    fd = openSync(breaker, "wx");
  } catch {
    // Another process is breaking it; a breaker that died holding it is itself abandoned.
    try {
      if (Date.now() - statSync(breaker).mtimeMs > staleMs) rmSync(breaker, { force: true });
    } catch {
      /* gone */
    }
    return;
  }
  try {
    const now = readHolder(lock);
    if (existsSync(lock) && now?.nonce === judged?.nonce) rmSync(lock, { force: true });
  } finally {
    closeSync(fd);
    rmSync(breaker, { force: true });
  }
}

function failed(failureFile: string | undefined): CacheBuildError | undefined {
  if (!failureFile || !existsSync(failureFile)) return undefined;
  return new CacheBuildError(readFileSync(failureFile, "utf8"));
}

/**
 * The entry's path, building it first when it is missing (once among all the processes that ask at
 * the same time; the others wait and reuse it).
 */
export async function cachedFile(options: CacheEntryOptions): Promise<CacheEntry> {
  const { dir, name, build, onWait, failureFile } = options;
  const staleMs = options.staleMs ?? 60_000;
  const waitMs = options.waitMs ?? 600_000;
  const pollMs = options.pollMs ?? 250;
  const path = join(dir, name);
  const lock = `${path}.lock`;
  mkdirSync(dir, { recursive: true });
  const start = performance.now();
  let waited = false;
  for (;;) {
    if (existsSync(path)) return { path, how: waited ? "waited" : "found", ms: waited ? performance.now() - start : 0 };
    const failure = failed(failureFile);
    if (failure) throw failure;
    const holder: LockHolder = { pid: process.pid, host: hostname(), since: Date.now(), nonce: randomBytes(8).toString("hex") };
    let fd: number | undefined;
    try {
      fd = openSync(lock, "wx");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (fd === undefined) {
      const other = readHolder(lock);
      if (abandoned(lock, other, staleMs)) {
        breakLock(lock, other, staleMs);
        continue;
      }
      if (performance.now() - start > waitMs) {
        throw new CacheWaitError(`waited ${Math.round((performance.now() - start) / 1000)} s for ${path}, which process ${other?.pid ?? "?"} on ${other?.host ?? "?"} is building (lock ${lock})`);
      }
      if (!waited) {
        waited = true;
        if (other) onWait?.(other);
      }
      await sleep(pollMs);
      continue;
    }
    // This process holds the lock.
    try {
      writeSync(fd, JSON.stringify(holder));
    } finally {
      closeSync(fd);
    }
    const touch = setInterval(() => {
      try {
        const t = new Date();
        utimesSync(lock, t, t);
      } catch {
        /* broken by someone who judged it abandoned: the rename below still lands whole */
      }
    }, Math.max(50, staleMs / 4));
    touch.unref?.();
    const tmp = join(dir, `${name}.${process.pid}.${holder.nonce}.tmp`);
    try {
      // Built by another process between the first look and taking the lock.
      if (existsSync(path)) return { path, how: waited ? "waited" : "found", ms: 0 };
      const t0 = performance.now();
      try {
        await build(tmp);
        if (!existsSync(tmp)) throw new Error(`the build wrote no ${tmp}`);
        renameSync(tmp, path);
      } catch (e) {
        rmSync(tmp, { force: true });
        const message = e instanceof Error ? e.message : String(e);
        if (failureFile) {
          try {
            mkdirSync(join(failureFile, ".."), { recursive: true });
            writeFileSync(failureFile, message);
          } catch {
            /* the others will try for themselves */
          }
        }
        throw e;
      }
      return { path, how: "built", ms: performance.now() - t0 };
    } finally {
      clearInterval(touch);
      if (readHolder(lock)?.nonce === holder.nonce) rmSync(lock, { force: true });
    }
  }
}
