// What a fault that fired does to its command on the device: completes it at once with the
// injected status, holds it for the delay (then completes it with the status, or runs it), or
// holds it for good (hung). A held command is in flight like any other: Abort completes it (unless
// the hang refuses Abort), its SQ's deletion aborts it, a controller reset or a restore forgets it,
// and its timer then finds it no longer held and does nothing. Injected media errors count in SMART's Media and Data Integrity Errors; every error
// status gets its Error Information entry where every completion's does (Device.post).

import type { Command } from "../command.ts";
import type { Health } from "../state/health.ts";
import { SCT_MEDIA, statusCodeType, type Status } from "../spec/status.ts";
import type { FaultHit } from "./faults.ts";

/** What a fault needs of the device. */
export interface FaultedDevice {
  readonly health: Health;
  readonly faultHeld: WeakSet<Command>;
  readonly abortRefused: WeakSet<Command>;
  hold(cmd: Command): Command;
  isHeld(cmd: Command): boolean;
  run(cmd: Command): void;
  post(cmd: Command, status: Status): void;
  complete(cmd: Command, status: Status): void;
  runHeld(cmd: Command): void;
}

function countMediaError(d: FaultedDevice, status: Status): void {
  if (statusCodeType(status) === SCT_MEDIA) d.health.mediaError();
}

export function applyFault(d: FaultedDevice, cmd: Command, hit: FaultHit): void {
  const status = hit.status;
  if (!hit.hang && hit.delayMs === 0) {
    if (status === undefined) return d.run(cmd);
    countMediaError(d, status);
    return d.post(cmd, status);
  }
  const held = d.hold(cmd);
  d.faultHeld.add(held);
  if (hit.refuseAbort) d.abortRefused.add(held);
  if (hit.hang) return;
  const timer = setTimeout(() => {
    if (!d.isHeld(held)) return; // aborted, its SQ deleted, the controller reset or restored
    if (status === undefined) return d.runHeld(held);
    countMediaError(d, status);
    d.complete(held, status);
  }, hit.delayMs);
  // Under Node a pending delay must not keep a stopped guest's process alive.
  (timer as { unref?: () => void }).unref?.();
}
