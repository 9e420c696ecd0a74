// Get Log Page: Error Information, SMART / Health, Firmware Slot, Changed Namespace List,
// Commands Supported and Effects.
// Offsets and lengths are in bytes of the page; bytes past its end read as zero.

import type { Device } from "../device.ts";
import type { Command } from "../command.ts";
import { sendToHost } from "../device.ts";
import { effectsLog } from "./effects.ts";
import * as G from "../spec/logs.ts";
import { NSID_BROADCAST } from "../spec/identify.ts";
import {
  SCT_GENERIC, SCT_COMMAND_SPECIFIC, SC_INVALID_FIELD, SC_INVALID_LOG_PAGE, SC_INVALID_NAMESPACE,
  STATUS_DNR,
} from "../spec/status.ts";

const INVALID_FIELD = SCT_GENERIC | SC_INVALID_FIELD | STATUS_DNR;
const INVALID_NAMESPACE = SCT_GENERIC | SC_INVALID_NAMESPACE | STATUS_DNR;
const INVALID_LOG_PAGE = SCT_COMMAND_SPECIFIC | SC_INVALID_LOG_PAGE | STATUS_DNR;

/** Active firmware slot (AFI bits 2:0): the only slot, read-only, holding config.firmware. */
const ACTIVE_SLOT = 1;

export function getLogPage(dev: Device, cmd: Command): number {
  const lid = cmd.cdw10 & G.CDW10_LID_MASK;
  const rae = (cmd.cdw10 & G.CDW10_RAE) !== 0;
  // NUMD is 0's based and 32 bits wide: multiply, since shifts would wrap at 2^31.
  const dwords = (cmd.cdw11 & G.CDW11_NUMDU_MASK) * 0x10000 + (cmd.cdw10 >>> G.CDW10_NUMDL_SHIFT) + 1;
  const length = dwords * 4;
  const offset = (cmd.cdw13 >>> 0) * 2 ** 32 + (cmd.cdw12 >>> 0);
  if (offset % 4 !== 0) return INVALID_FIELD;
  if (length > dev.config.mdtsBytes) return INVALID_FIELD;

  const page = buildPage(dev, cmd, lid);
  if (typeof page === "number") return page;
  if (offset > page.length) return INVALID_FIELD;

  const out = new Uint8Array(length);
  out.set(page.subarray(offset, offset + length));
  const s = sendToHost(dev, cmd, out);
  if (s === 0) dev.events.logRead(lid, rae);
  return s;
}

function buildPage(dev: Device, cmd: Command, lid: number): Uint8Array | number {
  switch (lid) {
    case G.LID_ERROR_INFO:
      return dev.errors.bytes();
    case G.LID_SMART:
      return smartPage(dev, cmd.nsid);
    case G.LID_FW_SLOT:
      return firmwareSlotPage(dev);
    case G.LID_CMD_EFFECTS:
      return effectsLog(dev.config);
    case G.LID_CHANGED_NS_LIST:
      // Namespaces never change while the device runs, so the list is always empty.
      return new Uint8Array(G.CHANGED_NS_LIST_SIZE);
    default:
      return INVALID_LOG_PAGE;
  }
}

/** SMART data is kept for the controller as a whole (LPA bit 0 clear); any valid NSID gets it. */
function smartPage(dev: Device, nsid: number): Uint8Array | number {
  const ok = nsid === 0 || nsid === NSID_BROADCAST || (nsid >= 1 && nsid <= dev.namespaces.length);
  if (!ok) return INVALID_NAMESPACE;
  return dev.health.bytes(dev.errors.count);
}

function firmwareSlotPage(dev: Device): Uint8Array {
  const out = new Uint8Array(G.FW_SLOT_LOG_SIZE);
  out[G.FW_AFI] = ACTIVE_SLOT;
  const rev = dev.config.firmware.padEnd(G.FW_FRS_LEN, " ");
  for (let i = 0; i < G.FW_FRS_LEN; i++) out[G.FW_FRS1 + i] = rev.charCodeAt(i);
  return out;
}
