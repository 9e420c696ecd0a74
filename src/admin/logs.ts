// Get Log Page: Error Information, SMART / Health, Firmware Slot, Changed Namespace List,
// Commands Supported and Effects, Sanitize Status.
// Offsets and lengths are in bytes of the page. An offset at or past the end of the page is
// Invalid Field in Command; a transfer running past the end reads zeros there (the spec leaves
// those dwords undefined).

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import { sendToHost } from "../state/context.ts";
import { effectsLog } from "./effects.ts";
import * as LOG from "../spec/logs.ts";
import { CSI_NVM, NSID_BROADCAST } from "../spec/identify.ts";
import { CSI_ZNS } from "../spec/zns.ts";
import { INVALID_FIELD, INVALID_LOG_PAGE, INVALID_NAMESPACE, SUCCESS, type Status } from "../spec/status.ts";

/** Active firmware slot (AFI bits 2:0): the only slot, read-only, holding config.firmware. */
const ACTIVE_SLOT = 1;

export function getLogPage(ctx: HandlerContext, cmd: Command): Status {
  const lid = cmd.cdw10 & LOG.CDW10_LID_MASK;
  const rae = (cmd.cdw10 & LOG.CDW10_RAE) !== 0;
  // NUMD is 0's based and 32 bits wide: multiply, since shifts would wrap at 2^31.
  const dwords = (cmd.cdw11 & LOG.CDW11_NUMDU_MASK) * 0x10000 + (cmd.cdw10 >>> LOG.CDW10_NUMDL_SHIFT) + 1;
  const length = dwords * 4;
  const offset = (cmd.cdw13 >>> 0) * 2 ** 32 + (cmd.cdw12 >>> 0);
  if (offset % 4 !== 0) return INVALID_FIELD;
  if (length > ctx.config.mdtsBytes) return INVALID_FIELD;

  const page = buildPage(ctx, cmd, lid);
  if (!(page instanceof Uint8Array)) return page;
  if (offset >= page.length) return INVALID_FIELD;

  const out = new Uint8Array(length);
  out.set(page.subarray(offset, offset + length));
  const s = sendToHost(ctx, cmd, out);
  if (s !== SUCCESS) return s;
  // Reading the Changed Namespace List without Retain Asynchronous Event clears it.
  // Notices of changes made since the last report are answered by this read too.
  if (lid === LOG.LID_CHANGED_NS_LIST && !rae) {
    ctx.nsTable.clearChanged();
    ctx.events.discard(lid);
  }
  ctx.events.logRead(lid, rae);
  return s;
}

function buildPage(ctx: HandlerContext, cmd: Command, lid: number): Uint8Array | Status {
  switch (lid) {
    case LOG.LID_ERROR_INFO:
      return ctx.errors.bytes();
    case LOG.LID_SMART:
      return smartPage(ctx, cmd.nsid);
    case LOG.LID_FW_SLOT:
      return firmwareSlotPage(ctx);
    case LOG.LID_CMD_EFFECTS: {
      const csi = cmd.cdw14 >>> LOG.CDW14_CSI_SHIFT;
      return csi === CSI_NVM || csi === CSI_ZNS ? effectsLog(ctx.config, csi) : INVALID_FIELD;
    }
    case LOG.LID_SANITIZE_STATUS:
      return ctx.sanitize.bytes();
    case LOG.LID_CHANGED_NS_LIST:
      return changedNamespaceList(ctx);
    default:
      return INVALID_LOG_PAGE;
  }
}

/** SMART data is kept for the controller as a whole (LPA bit 0 clear); any valid NSID gets it. */
function smartPage(ctx: HandlerContext, nsid: number): Uint8Array | Status {
  const ok = nsid === 0 || nsid === NSID_BROADCAST || ctx.nsTable.attached(nsid) !== undefined;
  if (!ok) return INVALID_NAMESPACE;
  return ctx.health.bytes(ctx.errors.count);
}

/** NSIDs whose attachment changed since the list was last read, as u32s (FFFFFFFFh alone: too many). */
function changedNamespaceList(ctx: HandlerContext): Uint8Array {
  const out = new Uint8Array(LOG.CHANGED_NS_LIST_SIZE);
  const dv = new DataView(out.buffer);
  ctx.nsTable.changedList().forEach((nsid, i) => dv.setUint32(i * 4, nsid, true));
  return out;
}

function firmwareSlotPage(ctx: HandlerContext): Uint8Array {
  const out = new Uint8Array(LOG.FW_SLOT_LOG_SIZE);
  out[LOG.FW_AFI] = ACTIVE_SLOT;
  const rev = ctx.config.firmware.padEnd(LOG.FW_FRS_LEN, " ");
  for (let i = 0; i < LOG.FW_FRS_LEN; i++) out[LOG.FW_FRS1 + i] = rev.charCodeAt(i);
  return out;
}
