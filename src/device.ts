// What command handlers (admin/, io/) are given: the device's parts, without the controller
// itself, so handlers only look down and the controller can be replaced around them.

import type { HotPath } from "./hotpath.ts";
import type { Dma } from "./dma.ts";
import type { Command } from "./command.ts";
import type { Namespace } from "./io/namespace.ts";
import type { ControllerConfig } from "./controller/options.ts";
import type { AsyncEvents } from "./controller/async-events.ts";
import type { ErrorLog } from "./controller/error-log.ts";
import type { Health } from "./controller/health.ts";
import type { FeatureState } from "./admin/feature-state.ts";

/** Returned by a handler that will complete the command later through Device.complete(). */
export const PENDING = -1;

/** A handler's answer: an NVMe status (0 = success) with dw0/dw1 set on the command, or PENDING. */
export type HandlerResult = number;

export interface Device {
  readonly config: ControllerConfig;
  readonly hp: HotPath;
  readonly dma: Dma;
  /** Namespaces by index nsid - 1. */
  readonly namespaces: readonly Namespace[];
  readonly features: FeatureState;
  readonly events: AsyncEvents;
  readonly errors: ErrorLog;
  readonly health: Health;
  /** CC.IOSQES / CC.IOCQES as the host set them at enable (log2 of entry sizes). */
  readonly ioSqEntryShift: number;
  readonly ioCqEntryShift: number;
  /** Completes every command still in flight from `sqid` with Command Aborted due to SQ Deletion. */
  abortSqCommands(sqid: number): void;
  /** Reports a finished data transfer (telemetry, bus events). */
  ioDone(kind: "read" | "write", bytes: number, nsid: number): void;
  /** Keeps a command that will complete later: returns the copy to hand to complete(). */
  hold(cmd: Command): Command;
  /** False once a held command was aborted, its SQ deleted or the controller reset: its late result must touch nothing. */
  isHeld(cmd: Command): boolean;
  /** Completes a held command (ignored if it was aborted, its SQ deleted or the controller reset since). */
  complete(cmd: Command, status: number): void;
  /** Milliseconds, monotonic. */
  now(): number;
  log(level: "info" | "warn" | "error", msg: string): void;
}

/** Copies `data` to the command's PRPs (at most `len` bytes); returns an NVMe status. */
export function sendToHost(dev: Device, cmd: Command, data: Uint8Array, len = data.length): number {
  const n = Math.min(len, data.length);
  const s = dev.dma.map(cmd, n, true);
  if (s !== 0) return s;
  dev.dma.toGuest(data.subarray(0, n));
  return 0;
}

/** Reads `len` bytes from the command's PRPs; returns the bytes or an NVMe status number. */
export function receiveFromHost(dev: Device, cmd: Command, len: number): Uint8Array | number {
  const s = dev.dma.map(cmd, len);
  if (s !== 0) return s;
  const buf = new Uint8Array(len);
  dev.dma.fromGuest(buf);
  return buf;
}
