// What snapshots keep of the data-management state: each namespace's current LBA format (with its
// protection settings and metadata) and blocks marked uncorrectable, and the subsystem's sanitize status. Restored data is untrusted input:
// checked whole against the namespaces first, taken only then.

import { LBA_FORMATS, NO_PROTECTION, UNCORRECTABLE_LIMIT, type Namespace, type Protection } from "./namespace.ts";
import { MetadataStore, type SavedChunk } from "./metadata.ts";
import { RangeSet } from "../backends/range-set.ts";
import { SanitizeState, type SanitizeSaved } from "./sanitize-state.ts";
import type { NamespaceTable } from "./namespaces.ts";

export interface DataState {
  /** Per allocated namespace (attached or not). */
  /** protection and metadata: absent in older snapshots and for formats without metadata. */
  namespaces: { nsid: number; lbaf: number; uncorrectable: number[]; protection?: Protection; metadata?: SavedChunk[] }[];
  sanitize: SanitizeSaved;
}

interface Owner {
  readonly nsTable: NamespaceTable;
  readonly sanitize: SanitizeState;
}

export function saveDataState(d: Owner): DataState {
  return {
    namespaces: d.nsTable.entries().map(({ ns }) => ({
      nsid: ns.nsid, lbaf: ns.lbaf, uncorrectable: ns.uncorrectable.save(), ...(ns.meta ? { protection: { ...ns.protection }, metadata: ns.meta.save() } : {}),
    })),
    sanitize: d.sanitize.save(),
  };
}

/** Throws naming what is wrong; returns the state to hand to restoreDataState. */
export function checkDataState(d: Owner, saved: unknown): DataState {
  const s = saved as Partial<DataState> | null;
  if (!s || typeof s !== "object" || !Array.isArray(s.namespaces)) throw new Error("data-management state missing");
  if (s.namespaces.length > d.nsTable.nn) throw new Error(`data-management state for ${s.namespaces.length} namespaces, more than nn ${d.nsTable.nn}`);
  const seen = new Set<number>();
  // The namespace table's own check makes sure the snapshot's namespaces are here; each is looked up by NSID.
  const namespaces = (s.namespaces as unknown[]).map((raw, i) => {
    const e = raw as Partial<DataState["namespaces"][number]> | null;
    if (!e || typeof e !== "object") throw new Error(`data-management state entry ${i}: format missing`);
    const ns: Namespace | undefined = typeof e.nsid === "number" && !seen.has(e.nsid) ? d.nsTable.entry(e.nsid)?.ns : undefined;
    if (!ns) throw new Error(`data-management state entry ${i}: no namespace ${String(e.nsid)} here`);
    seen.add(ns.nsid);
    const what = `namespace ${ns.nsid}`;
    const lbaf = e.lbaf;
    const protection = checkProtection(e.protection, what);
    if (typeof lbaf !== "number" || !Number.isInteger(lbaf) || lbaf < 0 || lbaf >= LBA_FORMATS.length || !ns.formatUsable(lbaf, protection)) {
      throw new Error(`${what}: LBA format ${String(lbaf)}`);
    }
    const { size, ms } = LBA_FORMATS[lbaf];
    const blocks = ns.backend.byteLength / size;
    const metadata = ms > 0 ? MetadataStore.check(e.metadata ?? [], ms, blocks, what) : undefined;
    return { nsid: ns.nsid, lbaf, uncorrectable: RangeSet.check(e.uncorrectable, blocks, UNCORRECTABLE_LIMIT, `${what}: uncorrectable blocks`), protection, metadata };
  });
  return { namespaces, sanitize: SanitizeState.check(s.sanitize) };
}

export function restoreDataState(d: Owner, s: DataState): void {
  for (const saved of s.namespaces) {
    const ns = d.nsTable.entry(saved.nsid)?.ns;
    if (!ns) continue;
    ns.setFormat(saved.lbaf, saved.protection);
    if (saved.metadata) ns.meta?.restore(saved.metadata);
    ns.uncorrectable.restore(saved.uncorrectable);
    ns.formatting = false; // a Format NVM in flight runs again
  }
  d.sanitize.restore(s.sanitize);
}

/** A saved Protection: booleans and a type number (formatUsable checks the type against the format). */
function checkProtection(saved: unknown, what: string): Protection {
  if (saved === undefined) return NO_PROTECTION;
  const p = saved as Partial<Protection> | null;
  if (!p || typeof p !== "object" || typeof p.extended !== "boolean" || typeof p.piFirst !== "boolean" || typeof p.pi !== "number") {
    throw new Error(`${what}: protection settings ${JSON.stringify(saved)}`);
  }
  return { extended: p.extended, pi: p.pi, piFirst: p.piFirst };
}
