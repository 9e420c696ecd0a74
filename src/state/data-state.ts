// What snapshots keep of the data-management state: each namespace's current LBA format and blocks
// marked uncorrectable, and the subsystem's sanitize status. Restored data is untrusted input:
// checked whole against the namespaces first, taken only then.

import { LBA_FORMATS, UNCORRECTABLE_LIMIT, type Namespace } from "./namespace.ts";
import { BlockRanges } from "./block-ranges.ts";
import { SanitizeState, type SanitizeSaved } from "./sanitize-state.ts";

export interface DataState {
  /** Per namespace, by index nsid - 1. */
  namespaces: { lbaf: number; uncorrectable: number[] }[];
  sanitize: SanitizeSaved;
}

interface Owner {
  readonly namespaces: readonly Namespace[];
  readonly sanitize: SanitizeState;
}

export function saveDataState(d: Owner): DataState {
  return {
    namespaces: d.namespaces.map((ns) => ({ lbaf: ns.lbaf, uncorrectable: ns.uncorrectable.save() })),
    sanitize: d.sanitize.save(),
  };
}

/** Throws naming what is wrong; returns the state to hand to restoreDataState. */
export function checkDataState(d: Owner, saved: unknown): DataState {
  const s = saved as Partial<DataState> | null;
  if (!s || typeof s !== "object" || !Array.isArray(s.namespaces)) throw new Error("data-management state missing");
  if (s.namespaces.length !== d.namespaces.length) throw new Error(`data-management state for ${s.namespaces.length} namespaces, not ${d.namespaces.length}`);
  const namespaces = d.namespaces.map((ns, i) => {
    const e = (s.namespaces as unknown[])[i] as Partial<DataState["namespaces"][number]> | null;
    const what = `namespace ${ns.nsid}`;
    if (!e || typeof e !== "object") throw new Error(`${what}: format missing`);
    const lbaf = e.lbaf;
    if (typeof lbaf !== "number" || !Number.isInteger(lbaf) || lbaf < 0 || lbaf >= LBA_FORMATS.length || !ns.formatUsable(lbaf)) {
      throw new Error(`${what}: LBA format ${String(lbaf)}`);
    }
    const blocks = ns.backend.byteLength / LBA_FORMATS[lbaf].size;
    return { lbaf, uncorrectable: BlockRanges.check(e.uncorrectable, blocks, UNCORRECTABLE_LIMIT, `${what}: uncorrectable blocks`) };
  });
  return { namespaces, sanitize: SanitizeState.check(s.sanitize) };
}

export function restoreDataState(d: Owner, s: DataState): void {
  d.namespaces.forEach((ns, i) => {
    ns.setFormat(s.namespaces[i].lbaf);
    ns.uncorrectable.restore(s.namespaces[i].uncorrectable);
    ns.formatting = false; // a Format NVM in flight runs again
  });
  d.sanitize.restore(s.sanitize);
}
