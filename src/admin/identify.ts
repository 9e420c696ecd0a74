// Identify: the controller, its namespaces, the active namespace list and each namespace's
// identifiers, as 4096-byte structures the Linux driver, SeaBIOS and nvme-cli parse.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import { LBA_FORMATS, type Namespace } from "../state/namespace.ts";
import { sendToHost } from "../state/context.ts";
import * as I from "../spec/identify.ts";
import * as P from "../spec/protection.ts";
import { VS_1_4 } from "../spec/registers.ts";
import { INVALID_FIELD, INVALID_NAMESPACE, type Status } from "../spec/status.ts";
import { ERROR_LOG_ENTRIES } from "../state/error-log.ts";
import { AER_LIMIT } from "../state/async-events.ts";
import { WCTEMP_K, CCTEMP_K } from "../state/feature-state.ts";
import type { CopyLimits } from "../state/options.ts";
import { csiController, csiNamespace, csiNamespaceList, ioCommandSets } from "./identify-csi.ts";
import { CNS_CSI_ACTIVE_NS_LIST, CNS_CSI_NAMESPACE, CNS_IO_COMMAND_SETS } from "../spec/zns.ts";


/** IEEE OUI field: no company identifier is assigned to this device. */
export const IEEE_OUI = 0x000000;
export const NQN_PREFIX = "nqn.2024-01.io.github.v86-nvme:";
const RAB = 6; // recommended arbitration burst: 64 commands
const ABORT_LIMIT = 4; // ACL + 1
const POWER_STATE0_CENTIWATTS = 500; // 5 W, the maximum any one power state may draw

export function identify(ctx: HandlerContext, cmd: Command): Status {
  const cns = cmd.cdw10 & I.CDW10_CNS_MASK;
  let data: Uint8Array | Status;
  switch (cns) {
    case I.CNS_NAMESPACE:
      data = identifyNamespace(ctx, cmd.nsid, false);
      break;
    case I.CNS_ALLOCATED_NAMESPACE:
      data = identifyNamespace(ctx, cmd.nsid, true);
      break;
    case I.CNS_ALLOCATED_NS_LIST:
      data = namespaceList(ctx, cmd.nsid, true);
      break;
    case I.CNS_NS_CONTROLLER_LIST:
      data = controllerList(ctx, cmd, true);
      break;
    case I.CNS_CONTROLLER_LIST:
      data = controllerList(ctx, cmd, false);
      break;
    case I.CNS_CONTROLLER:
      data = identifyController(ctx);
      break;
    case I.CNS_ACTIVE_NS_LIST:
      data = namespaceList(ctx, cmd.nsid, false);
      break;
    case I.CNS_NS_DESCRIPTORS:
      data = namespaceDescriptors(ctx, cmd.nsid);
      break;
    case I.CNS_CSI_CONTROLLER:
      data = csiController(cmd);
      break;
    case CNS_CSI_NAMESPACE:
      data = csiNamespace(ctx, cmd);
      break;
    case CNS_CSI_ACTIVE_NS_LIST:
      data = csiNamespaceList(ctx, cmd);
      break;
    case CNS_IO_COMMAND_SETS:
      data = ioCommandSets();
      break;
    default:
      return INVALID_FIELD;
  }
  if (!(data instanceof Uint8Array)) return data;
  return sendToHost(ctx, cmd, data);
}

function namespaceFor(ctx: HandlerContext, nsid: number): Namespace | undefined {
  return ctx.nsTable.attached(nsid);
}

/** Writes `text` as fixed-width ASCII, padded with spaces. */
function putAscii(out: Uint8Array, off: number, len: number, text: string): void {
  const t = text.padEnd(len, " ");
  for (let i = 0; i < len; i++) out[off + i] = t.charCodeAt(i) & 0x7f;
}

function putU64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v >>> 0, true);
  dv.setUint32(off + 4, Math.floor(v / 2 ** 32) >>> 0, true);
}

export function identifyController(ctx: HandlerContext): Uint8Array {
  const c = ctx.config;
  const out = new Uint8Array(I.IDENTIFY_DATA_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint16(I.IDC_VID, c.vendorId, true);
  dv.setUint16(I.IDC_SSVID, c.subsystemVendorId, true);
  putAscii(out, I.IDC_SN, I.IDC_SN_LEN, c.serial);
  putAscii(out, I.IDC_MN, I.IDC_MN_LEN, c.model);
  putAscii(out, I.IDC_FR, I.IDC_FR_LEN, c.firmware);
  out[I.IDC_RAB] = RAB;
  out[I.IDC_IEEE] = IEEE_OUI & 0xff;
  out[I.IDC_IEEE + 1] = (IEEE_OUI >>> 8) & 0xff;
  out[I.IDC_IEEE + 2] = (IEEE_OUI >>> 16) & 0xff;
  out[I.IDC_MDTS] = c.mdts;
  dv.setUint16(I.IDC_CNTLID, ctx.nsTable.cntlid, true);
  // Several controllers (PCI functions) in one subsystem: Linux then joins their namespaces' paths.
  if (ctx.nsTable.controllers.length > 1) out[I.IDC_CMIC] = I.CMIC_MULTI_CONTROLLER;
  dv.setUint32(I.IDC_VER, VS_1_4, true);
  // Linux arms Asynchronous Event Requests only when OAES names a notice it handles.
  dv.setUint32(I.IDC_OAES, I.OAES_NS_ATTR, true);
  out[I.IDC_CNTRLTYPE] = I.CNTRLTYPE_IO;
  dv.setUint16(I.IDC_OACS, I.OACS_FORMAT | I.OACS_NS_MGMT | (c.shadowDoorbells ? I.OACS_DBBUF_CONFIG : 0), true);
  out[I.IDC_ACL] = ABORT_LIMIT - 1;
  out[I.IDC_AERL] = AER_LIMIT - 1;
  out[I.IDC_FRMW] = I.FRMW_SLOT1_READ_ONLY | (1 << I.FRMW_SLOTS_SHIFT);
  out[I.IDC_LPA] = I.LPA_CMD_EFFECTS | I.LPA_EXTENDED_DATA;
  out[I.IDC_ELPE] = ERROR_LOG_ENTRIES - 1;
  out[I.IDC_NPSS] = 0;
  dv.setUint16(I.IDC_WCTEMP, WCTEMP_K, true);
  dv.setUint16(I.IDC_CCTEMP, CCTEMP_K, true);
  out[I.IDC_SQES] = I.SQES_64;
  out[I.IDC_CQES] = I.CQES_16;
  dv.setUint32(I.IDC_NN, ctx.nsTable.nn, true);
  putU64(dv, I.IDC_TNVMCAP, ctx.nsTable.totalBytes);
  putU64(dv, I.IDC_UNVMCAP, ctx.nsTable.unallocatedBytes);
  const oncs = I.ONCS_COMPARE | I.ONCS_DSM | I.ONCS_WRITE_ZEROES | I.ONCS_SAVE_SELECT | I.ONCS_TIMESTAMP
    | I.ONCS_WRITE_UNCORRECTABLE | I.ONCS_VERIFY | I.ONCS_COPY;
  dv.setUint16(I.IDC_ONCS, oncs, true);
  out[I.IDC_FNA] = 0; // format and erase per namespace; no cryptographic erase
  // Block Erase only; No-Deallocate allowed, and it leaves the media as the erase left it.
  dv.setUint32(I.IDC_SANICAP, (I.SANICAP_BLOCK_ERASE | (I.NODMMAS_NOT_MODIFIED << I.SANICAP_NODMMAS_SHIFT)) >>> 0, true);
  dv.setUint16(I.IDC_OCFS, I.OCFS_FORMAT0, true);
  dv.setUint32(I.IDC_SGLS, I.SGLS_DWORD_ALIGNED | I.SGLS_BIT_BUCKET, true);
  out[I.IDC_VWC] = c.volatileWriteCache ? I.VWC_PRESENT | I.VWC_FLUSH_BROADCAST_SUPPORTED : 0;
  putSubnqn(out, c.serial);
  putPowerState0(dv);
  return out;
}

/** NUL-terminated; trailing spaces of the serial are dropped so the NQN has none. */
function putSubnqn(out: Uint8Array, serial: string): void {
  const nqn = (NQN_PREFIX + serial.trimEnd()).slice(0, I.IDC_SUBNQN_LEN - 1);
  for (let i = 0; i < nqn.length; i++) out[I.IDC_SUBNQN + i] = nqn.charCodeAt(i);
}

/** One operational power state with zero entry/exit latencies and relative values 0. */
function putPowerState0(dv: DataView): void {
  dv.setUint16(I.IDC_PSD0 + I.PSD_MP, POWER_STATE0_CENTIWATTS, true);
}

export function identifyNamespaceData(ns: Namespace, copy: CopyLimits): Uint8Array {
  const out = new Uint8Array(I.IDENTIFY_DATA_SIZE);
  const dv = new DataView(out.buffer);
  putU64(dv, I.IDN_NSZE, ns.blocks);
  putU64(dv, I.IDN_NCAP, ns.blocks);
  putU64(dv, I.IDN_NUSE, ns.blocks);
  out[I.IDN_NSFEAT] = 0;
  out[I.IDN_NLBAF] = LBA_FORMATS.length - 1; // 0's based
  out[I.IDN_FLBAS] = ns.lbaf | (ns.protection.extended ? P.FLBAS_EXTENDED : 0);
  if (!ns.zones) { // a zoned namespace takes no metadata formats
    out[I.IDN_MC] = P.MC_EXTENDED | P.MC_SEPARATE;
    out[I.IDN_DPC] = P.DPC_TYPE1 | P.DPC_TYPE2 | P.DPC_TYPE3 | P.DPC_FIRST | P.DPC_LAST;
  }
  out[I.IDN_DPS] = ns.protection.pi | (ns.protection.piFirst ? P.DPS_FIRST : 0);
  const readsZeroes = ns.backend.discardZeroes ? I.DLFEAT_READ_ZEROES : I.DLFEAT_READ_NOT_REPORTED;
  out[I.IDN_DLFEAT] = readsZeroes | I.DLFEAT_WRITE_ZEROES_DEAC;
  putU64(dv, I.IDN_NVMCAP, ns.blocks * ns.blockSize);
  out.set(ns.nguid, I.IDN_NGUID);
  out.set(ns.eui64, I.IDN_EUI64);
  LBA_FORMATS.forEach((f, i) => {
    dv.setUint32(I.IDN_LBAF0 + i * I.LBAF_SIZE, (f.ms << I.LBAF_MS_SHIFT) | (f.shift << I.LBAF_LBADS_SHIFT) | (f.rp << I.LBAF_RP_SHIFT), true);
  });
  dv.setUint16(I.IDN_MSSRL, copy.mssrl, true);
  dv.setUint32(I.IDN_MCL, copy.mcl, true);
  out[I.IDN_MSRC] = copy.msrc;
  return out;
}

/**
 * CNS 00h (attached namespaces) or 11h (allocated ones): the namespace's data; zeros for a valid
 * NSID that names no such namespace.
 */
function identifyNamespace(ctx: HandlerContext, nsid: number, allocated: boolean): Uint8Array | Status {
  const t = ctx.nsTable;
  if (!t.valid(nsid)) return INVALID_NAMESPACE;
  const ns = allocated ? t.entry(nsid)?.ns : t.attached(nsid);
  if (!ns) return new Uint8Array(I.IDENTIFY_DATA_SIZE);
  const data = identifyNamespaceData(ns, ctx.config.copyLimits);
  if (t.controllers.length > 1) data[I.IDN_NMIC] = I.NMIC_SHARED; // every namespace of a multi-controller subsystem
  return data;
}

/** Active (or allocated) NSIDs greater than `nsid`, ascending, up to 1024 of them. */
function namespaceList(ctx: HandlerContext, nsid: number, allocated: boolean): Uint8Array | Status {
  if (nsid >= 0xfffffffe) return INVALID_NAMESPACE;
  const out = new Uint8Array(I.IDENTIFY_DATA_SIZE);
  const dv = new DataView(out.buffer);
  let n = 0;
  for (const e of ctx.nsTable.entries()) {
    if (e.ns.nsid <= nsid || (!allocated && !e.attached)) continue;
    if (n === I.NSID_LIST_MAX) break;
    dv.setUint32(n++ * 4, e.ns.nsid, true);
  }
  return out;
}

/**
 * Controller List (a count, then ids) of the controllers with ids at or above CDW10.CNTID: those
 * attached to the NSID (CNS 12h), or in the subsystem (13h).
 */
function controllerList(ctx: HandlerContext, cmd: Command, attachedTo: boolean): Uint8Array | Status {
  const from = cmd.cdw10 >>> I.CDW10_CNTID_SHIFT;
  if (attachedTo && !ctx.nsTable.valid(cmd.nsid)) return INVALID_NAMESPACE;
  const ids = ctx.nsTable.controllers.filter((c) => c.cntlid >= from && (!attachedTo || c.attached(cmd.nsid) !== undefined)).map((c) => c.cntlid);
  const out = new Uint8Array(I.IDENTIFY_DATA_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, ids.length, true);
  ids.forEach((id, i) => dv.setUint16(2 + i * 2, id, true));
  return out;
}

function namespaceDescriptors(ctx: HandlerContext, nsid: number): Uint8Array | Status {
  const ns = namespaceFor(ctx, nsid);
  if (!ns) return INVALID_NAMESPACE;
  const out = new Uint8Array(I.IDENTIFY_DATA_SIZE);
  let off = 0;
  const put = (type: number, id: Uint8Array): void => {
    out[off] = type;
    out[off + 1] = id.length;
    out.set(id, off + I.NID_HEADER);
    off += I.NID_HEADER + id.length;
  };
  put(I.NIDT_EUI64, ns.eui64);
  put(I.NIDT_NGUID, ns.nguid);
  put(I.NIDT_UUID, ns.uuid);
  // The command set: a host that enabled all I/O command sets (CC.CSS 110b) needs it for every namespace.
  put(I.NIDT_CSI, Uint8Array.of(ns.csi));
  return out;
}
