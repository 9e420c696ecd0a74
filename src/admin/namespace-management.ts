// Namespace Management (0Dh: create, delete) and Namespace Attachment (15h: attach, detach). A
// created namespace is allocated but not attached; attaching it makes it active. Every change of
// the active set lands in the Changed Namespace List and raises the Namespace Attribute Changed
// notice, so the host rescans by itself. In a subsystem of several controllers, each controller
// named in the attachment's controller list is told; a namespace is then shared (NMIC bit 0).
//
// Commands still in flight on a namespace that is detached or deleted run to their end on its
// backend (a write the host was told about is never dropped); new commands are refused.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import { receiveFromHost } from "../state/context.ts";
import type { NamespaceEntry } from "../state/namespaces.ts";
import { LBA_FORMATS, protectionFits, type Protection } from "../state/namespace.ts";
import { DPS_FIRST, DPS_TYPE_MASK, FLBAS_EXTENDED } from "../spec/protection.ts";
import * as I from "../spec/identify.ts";
import { CSI_ZNS } from "../spec/zns.ts";
import { AE_NOTICE_NS_ATTR, AE_TYPE_NOTICE, LID_CHANGED_NS_LIST } from "../spec/logs.ts";
import type { NamespaceTable } from "../state/namespaces.ts";
import {
  CONTROLLER_LIST_INVALID, INTERNAL_ERROR, INVALID_FIELD, LATER, type HandlerResult, INVALID_FORMAT, INVALID_NAMESPACE, NS_ALREADY_ATTACHED, NS_ID_UNAVAILABLE,
  NS_INSUFFICIENT_CAPACITY, NS_NOT_ATTACHED, SUCCESS, THIN_PROVISIONING_NOT_SUPPORTED, type Status,
} from "../spec/status.ts";

/** CDW10 SEL (bits 3:0) of both commands. */
const SEL_CREATE = 0;
const SEL_DELETE = 1;
const SEL_ATTACH = 0;
const SEL_DETACH = 1;
const SEL_MASK = 0xf;
/** FLBAS bits 3:0: the format index (bit 4, FLBAS_EXTENDED: metadata at the end of the block). */
const FLBAS_FORMAT_MASK = 0xf;
/** The host-specified fields of the create data structure (Identify Namespace layout). */
const CREATE_DATA_SIZE = 384;

/** Raises the Namespace Attribute Changed notice on one controller. */
export function raiseNamespaceNotice(ctx: Pick<HandlerContext, "events">): void {
  ctx.events.raise(AE_TYPE_NOTICE, AE_NOTICE_NS_ATTR, LID_CHANGED_NS_LIST);
}

/** Tells every controller whose active namespaces changed (each raises its notice: NamespaceTable.notice). */
export function namespacesChanged(ctx: Pick<HandlerContext, "nsTable">): void {
  ctx.nsTable.announce();
}

export function namespaceManagement(ctx: HandlerContext, cmd: Command): HandlerResult {
  const sel = cmd.cdw10 & SEL_MASK;
  if (sel === SEL_CREATE) return create(ctx, cmd);
  if (sel === SEL_DELETE) return remove(ctx, cmd.nsid);
  return INVALID_FIELD;
}

function create(ctx: HandlerContext, cmd: Command): HandlerResult {
  const csi = cmd.cdw11 >>> I.CDW11_CSI_SHIFT;
  if (csi !== I.CSI_NVM && csi !== CSI_ZNS) return INVALID_FIELD;
  const data = receiveFromHost(ctx, cmd, CREATE_DATA_SIZE);
  if (!(data instanceof Uint8Array)) return data;
  const dv = new DataView(data.buffer);
  const nsze = dv.getUint32(I.IDN_NSZE, true) + dv.getUint32(I.IDN_NSZE + 4, true) * 2 ** 32;
  const ncap = dv.getUint32(I.IDN_NCAP, true) + dv.getUint32(I.IDN_NCAP + 4, true) * 2 ** 32;
  const flbas = data[I.IDN_FLBAS];
  // Sharing: every namespace of a subsystem of several controllers is shared, of one controller
  // private (NMIC asks for what is).
  const nmic = ctx.nsTable.controllers.length > 1 ? I.NMIC_SHARED : 0;
  if (nsze === 0 || ncap > nsze || (data[I.IDN_NMIC] & ~nmic) !== 0) return INVALID_FIELD;
  if (ncap !== nsze) return THIN_PROVISIONING_NOT_SUPPORTED;
  const lbaf = flbas & FLBAS_FORMAT_MASK;
  const p = protectionOf(flbas, data[I.IDN_DPS]);
  const format = LBA_FORMATS[lbaf];
  if (!p || format === undefined || !protectionFits(format.ms, p) || (format.ms > 0 && csi === CSI_ZNS)) return INVALID_FORMAT;
  const blockSize = format.size;
  if (!Number.isSafeInteger(nsze * blockSize)) return NS_INSUFFICIENT_CAPACITY;
  // A zoned namespace's zones are the controller's choice (what the host asks for them is ignored).
  const r = ctx.nsTable.createGuest(nsze, blockSize, csi === CSI_ZNS);
  if (r === "capacity") return NS_INSUFFICIENT_CAPACITY;
  if (r === "no-nsid") return NS_ID_UNAVAILABLE;
  const created = (nsid: number) => {
    ctx.nsTable.entry(nsid)?.ns.setFormat(lbaf, p);
    logCreated(nsid);
  };
  const logCreated = (nsid: number) => ctx.log("info", `namespace ${nsid} created: ${nsze} blocks of ${blockSize} bytes${csi === CSI_ZNS ? ", zoned" : ""}`);
  if (typeof r === "number") {
    cmd.dw0 = r;
    created(r);
    return SUCCESS;
  }
  // The backend is being made (say, a file in browser storage): complete once it is there.
  const c = ctx.hold(cmd);
  r.ready.then(() => {
    // A reset dropped the command meanwhile: the host never learns the NSID, so none is made.
    if (!ctx.isHeld(c)) return void ctx.nsTable.delete(r.nsid);
    created(r.nsid);
    c.dw0 = r.nsid;
    ctx.complete(c, SUCCESS);
  }, (e) => {
    ctx.log("error", `namespace ${r.nsid}: making its backend failed: ${e instanceof Error ? e.message : String(e)}`);
    if (ctx.isHeld(c)) ctx.complete(c, INTERNAL_ERROR);
  });
  return LATER;
}

/** FLBAS bit 4 and DPS as a Protection; undefined when a reserved bit is set. */
function protectionOf(flbas: number, dps: number): Protection | undefined {
  if ((flbas & ~(FLBAS_FORMAT_MASK | FLBAS_EXTENDED)) !== 0 || (dps & ~(DPS_TYPE_MASK | DPS_FIRST)) !== 0) return undefined;
  return { extended: (flbas & FLBAS_EXTENDED) !== 0, pi: dps & DPS_TYPE_MASK, piFirst: (dps & DPS_FIRST) !== 0 };
}

/** Deletes `nsid`, or every namespace for FFFFFFFFh. */
function remove(ctx: HandlerContext, nsid: number): Status {
  const t = ctx.nsTable;
  if (nsid !== I.NSID_BROADCAST && !t.valid(nsid)) return INVALID_NAMESPACE;
  if (nsid !== I.NSID_BROADCAST && !t.entry(nsid)) return INVALID_FIELD;
  const gone = nsid === I.NSID_BROADCAST ? t.entries().map((e) => e.ns.nsid) : [nsid];
  for (const id of gone) release(ctx, t.delete(id)!);
  namespacesChanged(ctx);
  return SUCCESS;
}

/** A deleted namespace's backend: flushed so nothing written to it is left in a cache. */
function release(ctx: HandlerContext, e: NamespaceEntry): void {
  ctx.log("info", `namespace ${e.ns.nsid} deleted`);
  try {
    const r = e.ns.backend.flush();
    if (r instanceof Promise) r.catch((err) => ctx.log("error", `flush of deleted namespace ${e.ns.nsid} failed: ${err}`));
  } catch (err) {
    ctx.log("error", `flush of deleted namespace ${e.ns.nsid} failed: ${err}`);
  }
}

export function namespaceAttachment(ctx: HandlerContext, cmd: Command): Status {
  const sel = cmd.cdw10 & SEL_MASK;
  if (sel !== SEL_ATTACH && sel !== SEL_DETACH) return INVALID_FIELD;
  const t = ctx.nsTable;
  if (!t.valid(cmd.nsid)) return INVALID_NAMESPACE;
  const e = t.entry(cmd.nsid);
  if (!e) return INVALID_FIELD;
  const list = receiveFromHost(ctx, cmd, I.IDENTIFY_DATA_SIZE);
  if (!(list instanceof Uint8Array)) return list;
  const tables = listedControllers(t, list);
  if (!tables) return CONTROLLER_LIST_INVALID;
  const attach = sel === SEL_ATTACH;
  // All or nothing: one listed controller in the wrong state refuses the command.
  if (attach && tables.some((c) => c.entry(cmd.nsid)!.attached)) return NS_ALREADY_ATTACHED;
  if (!attach && tables.some((c) => !c.entry(cmd.nsid)!.attached)) return NS_NOT_ATTACHED;
  for (const c of tables) c.setAttached(cmd.nsid, attach);
  ctx.log("info", `namespace ${cmd.nsid} ${attach ? "attached to" : "detached from"} controller ${tables.map((c) => c.cntlid).join(", ")}`);
  namespacesChanged(ctx);
  return SUCCESS;
}

/** The controllers a Controller List names (at least one, each a controller of this subsystem, each once), or undefined. */
function listedControllers(t: NamespaceTable, list: Uint8Array): NamespaceTable[] | undefined {
  const dv = new DataView(list.buffer, list.byteOffset, list.byteLength);
  const n = dv.getUint16(0, true);
  if (n === 0 || n > I.CONTROLLER_LIST_MAX) return undefined;
  const out: NamespaceTable[] = [];
  for (let i = 1; i <= n; i++) {
    const c = t.controller(dv.getUint16(i * 2, true));
    if (!c || out.includes(c)) return undefined;
    out.push(c);
  }
  return out;
}
