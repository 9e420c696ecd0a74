// Admin command dispatch. The Commands Supported and Effects table gates what is accepted, so the
// log page and the dispatcher cannot disagree.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import * as O from "../spec/opcodes.ts";
import { INVALID_FIELD, INVALID_OPCODE, SANITIZE_IN_PROGRESS, SUCCESS, type HandlerResult } from "../spec/status.ts";
import { adminCommandSupported } from "../state/command-support.ts";
import { createCq, createSq, deleteCq, deleteSq } from "./queues.ts";
import { doorbellBufferConfig } from "./doorbell-buffer.ts";
import { identify } from "./identify.ts";
import { getFeatures, setFeatures } from "./features.ts";
import { getLogPage } from "./logs.ts";
import { namespaceAttachment, namespaceManagement } from "./namespace-management.ts";
import { formatNvm } from "./format.ts";
import { blockedBySanitize, sanitize } from "./sanitize.ts";
import { afterEarlierControllers, identifiesController } from "./subsystem-order.ts";

export function executeAdmin(ctx: HandlerContext, cmd: Command): HandlerResult {
  if (!adminCommandSupported(cmd.opcode, ctx.config)) return INVALID_OPCODE;
  if (cmd.fused || cmd.usesSgl) return INVALID_FIELD;
  if (blockedBySanitize(ctx, cmd)) return SANITIZE_IN_PROGRESS;
  switch (cmd.opcode) {
    case O.ADMIN_DELETE_SQ: return deleteSq(ctx, cmd);
    case O.ADMIN_CREATE_SQ: return createSq(ctx, cmd);
    case O.ADMIN_DELETE_CQ: return deleteCq(ctx, cmd);
    case O.ADMIN_CREATE_CQ: return createCq(ctx, cmd);
    case O.ADMIN_GET_LOG_PAGE: return getLogPage(ctx, cmd);
    case O.ADMIN_IDENTIFY: return identifiesController(cmd) ? afterEarlierControllers(ctx, cmd, (c) => identify(ctx, c)) : identify(ctx, cmd);
    case O.ADMIN_SET_FEATURES: return setFeatures(ctx, cmd);
    case O.ADMIN_GET_FEATURES: return getFeatures(ctx, cmd);
    case O.ADMIN_ASYNC_EVENT_REQUEST: return ctx.events.request(cmd);
    case O.ADMIN_DOORBELL_BUFFER_CONFIG: return doorbellBufferConfig(ctx, cmd);
    case O.ADMIN_KEEP_ALIVE: return SUCCESS;
    case O.ADMIN_NS_MANAGEMENT: return namespaceManagement(ctx, cmd);
    case O.ADMIN_NS_ATTACHMENT: return namespaceAttachment(ctx, cmd);
    case O.ADMIN_FORMAT_NVM: return formatNvm(ctx, cmd);
    case O.ADMIN_SANITIZE: return sanitize(ctx, cmd);
    case O.ADMIN_ABORT:
      // dw0 bit 0 set: the command was not aborted (it had completed, never existed, or its injected hang refuses Abort).
      cmd.dw0 = ctx.abort(cmd.cdw10 & 0xffff, cmd.cdw10 >>> 16) ? 0 : 1;
      return SUCCESS;
    default: return INVALID_OPCODE;
  }
}
