// Commands a handler answered LATER (asynchronous backends), by SQ id and command id. Each holds a
// reserved CQ slot until it is completed, aborted, or dropped by a reset.

import type { Command } from "../command.ts";

export class InflightCommands {
  private readonly byKey = new Map<string, Command>();

  get size(): number {
    return this.byKey.size;
  }

  /** Keeps a copy of `cmd` (the fetch slot is reused) and returns it. */
  hold(cmd: Command): Command {
    const c = cmd.clone();
    this.byKey.set(`${c.sqid}:${c.cid}`, c);
    return c;
  }

  has(sqid: number, cid: number): boolean {
    return this.byKey.has(`${sqid}:${cid}`);
  }

  /** False once `cmd` was completed, aborted, or dropped by a reset or its SQ's deletion. */
  holds(cmd: Command): boolean {
    return this.byKey.get(`${cmd.sqid}:${cmd.cid}`) === cmd;
  }

  /** Removes `cmd`; false when it is no longer held (reset, aborted, SQ deleted). */
  release(cmd: Command): boolean {
    const key = `${cmd.sqid}:${cmd.cid}`;
    if (this.byKey.get(key) !== cmd) return false;
    this.byKey.delete(key);
    return true;
  }

  get(sqid: number, cid: number): Command | undefined {
    return this.byKey.get(`${sqid}:${cid}`);
  }

  take(sqid: number, cid: number): Command | undefined {
    const c = this.byKey.get(`${sqid}:${cid}`);
    if (c) this.byKey.delete(`${sqid}:${cid}`);
    return c;
  }

  /** Removes and returns every command from `sqid`. */
  takeSq(sqid: number): Command[] {
    const out = [...this.byKey.values()].filter((c) => c.sqid === sqid);
    for (const c of out) this.byKey.delete(`${c.sqid}:${c.cid}`);
    return out;
  }

  all(): Command[] {
    return [...this.byKey.values()];
  }

  clear(): void {
    this.byKey.clear();
  }
}
