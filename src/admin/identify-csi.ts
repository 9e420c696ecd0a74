// Identify for I/O Command Sets (NVMe 2.0, the Zoned Namespace Command Set): the command set
// specific Identify Namespace (CNS 05h) and Identify Controller (06h), the active namespace list of
// one command set (07h), and the I/O Command Set data structure (1Ch) with the one combination this
// controller offers, NVM and Zoned Namespace, which the I/O Command Set Profile feature selects.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import type { Namespace } from "../state/namespace.ts";
import { LBA_FORMATS } from "../state/namespace.ts";
import * as I from "../spec/identify.ts";
import * as Z from "../spec/zns.ts";
import { INVALID_FIELD, INVALID_IOCS, INVALID_NAMESPACE, type Status } from "../spec/status.ts";

const csiOf = (cmd: Command) => cmd.cdw11 >>> I.CDW11_CSI_SHIFT;

/** CNS 05h: the namespace's data for the command set CSI names; zeros for a valid NSID not attached. */
export function csiNamespace(ctx: HandlerContext, cmd: Command): Uint8Array | Status {
  const csi = csiOf(cmd);
  if (csi !== I.CSI_NVM && csi !== Z.CSI_ZNS) return INVALID_FIELD;
  if (!ctx.nsTable.valid(cmd.nsid)) return INVALID_NAMESPACE;
  const ns = ctx.nsTable.attached(cmd.nsid);
  const out = new Uint8Array(I.IDENTIFY_DATA_SIZE);
  if (!ns || csi === I.CSI_NVM) return out; // nothing of the NVM command set's own beyond CNS 00h
  return ns.zones ? zonedNamespace(ns, out) : INVALID_IOCS;
}

function zonedNamespace(ns: Namespace, out: Uint8Array): Uint8Array {
  const z = ns.zones!;
  const g = z.geometry;
  const dv = new DataView(out.buffer);
  dv.setUint16(Z.IDZN_ZOC, 0, true); // no variable capacity, no zone active excursions
  dv.setUint16(Z.IDZN_OZCS, g.crossZoneReads ? Z.OZCS_READ_ACROSS_ZONE_BOUNDARIES : 0, true);
  dv.setUint32(Z.IDZN_MAR, g.maxActive ? g.maxActive - 1 : Z.NO_LIMIT, true);
  dv.setUint32(Z.IDZN_MOR, g.maxOpen ? g.maxOpen - 1 : Z.NO_LIMIT, true);
  LBA_FORMATS.forEach((f, i) => {
    if (!z.fits(f.size) || f.ms > 0) return; // a format the zones cannot take has no zone size
    const zsze = g.zoneBytes / f.size;
    dv.setUint32(Z.IDZN_LBAFE + i * Z.LBAFE_SIZE, zsze >>> 0, true);
    dv.setUint32(Z.IDZN_LBAFE + i * Z.LBAFE_SIZE + 4, Math.floor(zsze / 2 ** 32), true);
  });
  return out;
}

/** CNS 06h: the controller's data for a command set: nothing beyond MDTS for either (ZASL 0: Zone Append up to MDTS). */
export function csiController(cmd: Command): Uint8Array | Status {
  const csi = csiOf(cmd);
  return csi === I.CSI_NVM || csi === Z.CSI_ZNS ? new Uint8Array(I.IDENTIFY_DATA_SIZE) : INVALID_FIELD;
}

/** CNS 07h: active NSIDs above `cmd.nsid` whose namespaces belong to the command set CSI names. */
export function csiNamespaceList(ctx: HandlerContext, cmd: Command): Uint8Array | Status {
  const csi = csiOf(cmd);
  if (csi !== I.CSI_NVM && csi !== Z.CSI_ZNS) return INVALID_FIELD;
  if (cmd.nsid >= 0xfffffffe) return INVALID_NAMESPACE;
  const out = new Uint8Array(I.IDENTIFY_DATA_SIZE);
  const dv = new DataView(out.buffer);
  let n = 0;
  for (const ns of ctx.namespaces) {
    if (ns.nsid <= cmd.nsid || ns.csi !== csi) continue;
    if (n === I.NSID_LIST_MAX) break;
    dv.setUint32(n++ * 4, ns.nsid, true);
  }
  return out;
}

/** CNS 1Ch: the I/O Command Set combinations; index 0, NVM with Zoned Namespace, is the only one. */
export function ioCommandSets(): Uint8Array {
  const out = new Uint8Array(Z.IOCS_VECTORS * Z.IOCS_VECTOR_SIZE);
  new DataView(out.buffer).setUint32(0, Z.IOCS_VECTOR_NVM_ZNS, true);
  return out;
}
