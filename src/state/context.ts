// What command handlers (admin/, io/) are given: the device's state and the few services they
// need, never the controller itself, so handlers only look down and the controller can change
// around them.

import type { HotPath } from "../hotpath.ts";
import type { Dma } from "../dma.ts";
import type { Command } from "../command.ts";
import { SUCCESS, type Status } from "../spec/status.ts";
import type { Namespace } from "./namespace.ts";
import type { NamespaceTable } from "./namespaces.ts";
import type { ControllerConfig } from "./options.ts";
import type { AsyncEvents } from "./async-events.ts";
import type { ErrorLog } from "./error-log.ts";
import type { Health } from "./health.ts";
import type { FeatureState } from "./feature-state.ts";
import type { SanitizeState } from "./sanitize-state.ts";
import type { LogLevel } from "../backends/log.ts";

export type { LogLevel };

export interface HandlerContext {
  readonly config: ControllerConfig;
  /** The attached (active) namespaces in NSID order. */
  readonly namespaces: readonly Namespace[];
  /** Every allocated namespace, attachment and capacity (Namespace Management and Attachment). */
  readonly nsTable: NamespaceTable;
  readonly features: FeatureState;
  readonly events: AsyncEvents;
  readonly errors: ErrorLog;
  readonly health: Health;
  /** The subsystem's sanitize status (survives controller resets). */
  readonly sanitize: SanitizeState;
  /** Queues, shadow doorbells and interrupt coalescing live in the hot path. */
  readonly hotPath: HotPath;
  readonly dma: Dma;
  /** CC.IOSQES / CC.IOCQES as the host set them at enable (log2 of entry sizes). */
  readonly ioSqEntryShift: number;
  readonly ioCqEntryShift: number;
  /** Abort (admin 08h): completes the named in-flight command now, if any; true when it did. */
  abort(sqid: number, cid: number): boolean;
  /** Completes every command still in flight from `sqid` with Command Aborted due to SQ Deletion. */
  abortSqCommands(sqid: number): void;
  /** Reports a finished data transfer (telemetry, bus events). */
  ioDone(kind: "read" | "write", bytes: number, nsid: number): void;
  /** Keeps a command that will complete later (the handler returns LATER): returns the copy to hand to complete(). */
  hold(cmd: Command): Command;
  /** False once a held command was aborted, its SQ deleted or the controller reset: its late result must touch nothing. */
  isHeld(cmd: Command): boolean;
  /** Completes a held command (ignored if it was aborted, its SQ deleted or the controller reset since). */
  complete(cmd: Command, status: Status): void;
  /** Runs `fn`, which touches guest RAM, now, or once the host allows bus mastering again (dropped by a reset). */
  afterDma(fn: () => void): void;
  /** Milliseconds, monotonic. */
  now(): number;
  log(level: LogLevel, msg: string): void;
}

/** Copies `data` to the command's PRPs (at most `len` bytes). */
export function sendToHost(ctx: HandlerContext, cmd: Command, data: Uint8Array, len = data.length): Status {
  const n = Math.min(len, data.length);
  const s = ctx.dma.map(cmd, n, true);
  if (s !== SUCCESS) return s;
  ctx.dma.toGuest(data.subarray(0, n));
  return SUCCESS;
}

/** Reads `len` bytes from the command's PRPs: the bytes, or the status that stopped it. */
export function receiveFromHost(ctx: HandlerContext, cmd: Command, len: number): Uint8Array | Status {
  const s = ctx.dma.map(cmd, len);
  if (s !== SUCCESS) return s;
  const buf = new Uint8Array(len);
  ctx.dma.fromGuest(buf);
  return buf;
}
