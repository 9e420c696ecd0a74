// The erase journal of a persistent disk. Format NVM and Sanitize erase a whole namespace, and a
// crash (a closed or crashed tab, the disk's worker killed, a power cut) may come in the middle.
// So that a reopened disk is never half erased, the erase is journaled in the map's header page
// (block-map.ts), which the worker writes only after the bitmap pages it is sent with (opfs-protocol.ts):
// 1. beginErase() makes "a Format / a sanitize is under way" durable before a block is erased;
// 2. the erase itself only changes the map (every block reads as zeros);
// 3. endErase() clears the mark in the header that follows the erased bitmaps to the file.
// A disk reopened with the mark set finishes the erase before it is handed out. For a sanitize that
// is the spec's rule (once started it cannot be aborted and continues after a power cycle); for
// Format NVM, which names no state after a power loss, it is the answer that is never half of each.
// The last completed sanitize is kept too, so that the Sanitize Status log reports it after a reload.

import type { BlockBackend } from "./block-backend.ts";
import type { BlockMap } from "./block-map.ts";
import { consoleLog } from "./log.ts";

export type ErasingOp = "format" | "sanitize";

/** An erase that a reopened disk found cut short by a crash and finished. */
export interface RecoveredErase {
  op: ErasingOp;
  /** The sanitize's CDW10 (0 for a Format). */
  cdw10: number;
}

/** What a disk tells the Sanitize Status log of a controller coming up over it: the last sanitize completed on it. */
export interface SanitizeReport {
  cdw10: number;
  /** Completed when the disk was reopened (it had been cut short), and this is the first report. */
  finishedAtOpen: boolean;
}

/** A disk whose whole-disk erases outlive crashes as all or nothing. */
export interface JournaledDisk extends BlockBackend {
  /** Resolves once the mark is durable; the erase must not start before. */
  beginErase(op: ErasingOp, cdw10?: number): Promise<void>;
  /** After the erase (every block zeroed or discarded): resolves once it and the cleared mark are durable. */
  endErase(): Promise<void>;
  /** The last sanitize completed on this disk, if any. */
  sanitizeReport(): SanitizeReport | undefined;
}

export function isJournaled(b: BlockBackend): b is JournaledDisk {
  return typeof (b as Partial<JournaledDisk>).beginErase === "function";
}

export async function beginErase(map: BlockMap, flush: () => Promise<void>, op: ErasingOp, cdw10: number): Promise<void> {
  const before = map.journal;
  map.journal = { ...before, underway: op, cdw10: op === "sanitize" ? cdw10 >>> 0 : 0 };
  try {
    await flush();
  } catch (e) {
    map.journal = before; // the erase will not run: a later flush must not mark it under way
    throw e;
  }
}

export async function endErase(map: BlockMap, flush: () => Promise<void>): Promise<void> {
  const j = map.journal;
  map.journal = { underway: "none", cdw10: 0, sanitized: j.underway === "sanitize" ? j.cdw10 : j.sanitized };
  await flush();
}

/** Finishes the erase the map says a crash cut short (open() calls it before handing the disk out). */
type Disk = { map: BlockMap; byteLength: number; writeZeroes(o: number, n: number): void; flush(): Promise<void> };
export async function finishErase(disk: Disk, name: string): Promise<RecoveredErase | undefined> {
  const j = disk.map.journal;
  if (j.underway === "none") return undefined;
  disk.writeZeroes(0, disk.byteLength);
  await endErase(disk.map, () => disk.flush());
  consoleLog("warn", `persistent disk ${name}: finished the ${j.underway === "format" ? "Format NVM" : "sanitize"} a crash had cut short`);
  return { op: j.underway, cdw10: j.cdw10 };
}

const told = new WeakSet<BlockMap>();

/** The last sanitize completed on the disk of `map`, if any; finished at open only the first time told (writes may follow). */
export function sanitizeReport(map: BlockMap, recovered: RecoveredErase | undefined): SanitizeReport | undefined {
  const cdw10 = map.journal.sanitized;
  if (cdw10 === undefined) return undefined;
  const first = !told.has(map);
  told.add(map);
  return { cdw10, finishedAtOpen: first && recovered?.op === "sanitize" };
}
