// Admin command dispatch. The Commands Supported and Effects table gates what is accepted, so the
// log page and the dispatcher cannot disagree.

import type { Device } from "../device.ts";
import type { Command } from "../command.ts";
import * as O from "../spec/opcodes.ts";
import * as S from "../spec/status.ts";
import { isSupported } from "./effects.ts";
import { createCq, createSq, deleteCq, deleteSq } from "./queues.ts";
import { doorbellBufferConfig } from "./doorbell-buffer.ts";
import { identify } from "./identify.ts";
import { getFeatures, setFeatures } from "./features.ts";
import { getLogPage } from "./logs.ts";

export interface AdminExtras {
  /** Abort: completes the named in-flight command, if any; true when it did. */
  abort(sqid: number, cid: number): boolean;
}

export function executeAdmin(dev: Device, extra: AdminExtras, cmd: Command): number {
  if (!isSupported(true, cmd.opcode, dev.config)) return S.SCT_GENERIC | S.SC_INVALID_OPCODE | S.STATUS_DNR;
  if (cmd.fused || cmd.usesSgl) return S.SCT_GENERIC | S.SC_INVALID_FIELD | S.STATUS_DNR;
  switch (cmd.opcode) {
    case O.ADMIN_DELETE_SQ: return deleteSq(dev, cmd);
    case O.ADMIN_CREATE_SQ: return createSq(dev, cmd);
    case O.ADMIN_DELETE_CQ: return deleteCq(dev, cmd);
    case O.ADMIN_CREATE_CQ: return createCq(dev, cmd);
    case O.ADMIN_GET_LOG_PAGE: return getLogPage(dev, cmd);
    case O.ADMIN_IDENTIFY: return identify(dev, cmd);
    case O.ADMIN_SET_FEATURES: return setFeatures(dev, cmd);
    case O.ADMIN_GET_FEATURES: return getFeatures(dev, cmd);
    case O.ADMIN_ASYNC_EVENT_REQUEST: return dev.events.request(cmd);
    case O.ADMIN_DOORBELL_BUFFER_CONFIG: return doorbellBufferConfig(dev, cmd);
    case O.ADMIN_KEEP_ALIVE: return 0;
    case O.ADMIN_ABORT:
      // dw0 bit 0 set: the command was not aborted (it had completed, or never existed).
      cmd.dw0 = extra.abort(cmd.cdw10 & 0xffff, cmd.cdw10 >>> 16) ? 0 : 1;
      return 0;
    default: return S.SCT_GENERIC | S.SC_INVALID_OPCODE | S.STATUS_DNR;
  }
}
