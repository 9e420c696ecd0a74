// The order in which a subsystem's controllers identify themselves to their host. Linux names a
// subsystem (and so its disks) after the controller that registers it first: nvme_init_subsystem
// takes that controller's instance, so the disks are nvme1n1, ... when nvme1's driver happens to
// get there before nvme0's. Both drivers come up at once, so a later controller (CNTLID > 1)
// answers Identify Controller only once every earlier one has been set up by the same host (its
// host is past registering the subsystem), or after WAIT_MS: the disks are then named after the
// first controller, as with one controller (a guest booted with root=/dev/nvme0n1p2 finds its
// root). Set up means I/O queues, but the boot firmware's do not count for the OS: SeaBIOS sets up
// every controller with polled I/O queues (interrupts off) and leaves them in place when it boots
// the OS, so Linux, identifying the second controller before it had reset the first, took them for
// its own (1 cold boot in 36 under load: nvme1n1, and the root never appeared). So during a
// controller's first enable since power-on (the firmware's) any I/O queue counts; after that only
// a completion queue that interrupts, an OS driver's.
// WAIT_MS is host time, long enough for a slow emulated guest and far below Linux's 60 s admin
// timeout; it is only waited out in full when no host sets up the earlier controller.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import { LATER, type HandlerResult, type Status } from "../spec/status.ts";
import { CDW10_CNS_MASK, CNS_CONTROLLER } from "../spec/identify.ts";

/** Longest an answer waits for the earlier controllers (ms). */
const WAIT_MS = 10_000;
const POLL_MS = 5;

/** An Identify Controller (CNS 01h): the command whose answer registers a subsystem with Linux. */
export function identifiesController(cmd: Command): boolean {
  return (cmd.cdw10 & CDW10_CNS_MASK) === CNS_CONTROLLER;
}

/** Runs `answer` now, or (held) once the controllers before this one have their hosts' I/O queues. */
export function afterEarlierControllers(ctx: HandlerContext, cmd: Command, answer: (cmd: Command) => Status): HandlerResult {
  const t = ctx.nsTable;
  const polledCounts = t.firmwareTurn();
  const waiting = (): boolean => t.controllers.some((c) => c.cntlid < t.cntlid && !c.hostUp(polledCounts));
  if (!waiting()) return answer(cmd);
  const held = ctx.hold(cmd);
  const until = ctx.now() + WAIT_MS;
  const poll = (): void => {
    if (!ctx.isHeld(held)) return; // reset, aborted or its SQ deleted meanwhile
    if (waiting() && ctx.now() < until) return void setTimeout(poll, POLL_MS);
    if (waiting()) ctx.log("warn", `Identify Controller answered after ${WAIT_MS} ms without the earlier controllers' I/O queues: Linux may name the disks after this controller`);
    ctx.afterDma(() => {
      if (ctx.isHeld(held)) ctx.complete(held, answer(held));
    });
  };
  setTimeout(poll, POLL_MS);
  return LATER;
}
