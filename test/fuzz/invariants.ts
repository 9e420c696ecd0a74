// The invariants checked around every call a hostile host makes into the controller:
// - no exception escapes the device, and no handler fails (Internal Error is a bug, whatever the input);
// - no byte outside guest RAM changes;
// - in guest RAM only CQ slots, the shadow doorbell and EventIdx pages, and the data (and metadata)
//   buffers of data-in commands change, and only inside ranges reported dirty;
// - every fetched command gets exactly one completion, unless a reset drops it (ledger.ts);
// - the INTx line is up exactly while an interrupt-enabled CQ holds entries the host has not
//   consumed (unless masked; with aggregation on, never up without such entries).

import { deviceOf, hotPathOf, type NvmeController } from "../../src/controller/controller.ts";
import { MAX_QUEUES } from "../../src/hotpath.ts";
import type { Command } from "../../src/command.ts";
import type { GuestMemory } from "../driver/guest-memory.ts";
import * as O from "../../src/spec/opcodes.ts";
import * as R from "../../src/spec/registers.ts";
import { CommandLedger } from "./ledger.ts";
import { MemoryWatch } from "./memory-watch.ts";
import { dataInLength } from "./data-in.ts";
import { dataRegions, type Region } from "./prp-model.ts";

const DB_SPAN = MAX_QUEUES * 2 * 4;
const MAX_VIOLATIONS = 20;

export interface WatchedHost {
  level: boolean;
  dirty: [number, number][];
  internalErrors: string[];
}

export class Invariants {
  readonly violations: string[] = [];
  readonly ledger: CommandLedger;
  private readonly watch: MemoryWatch;
  /** What the current call is (for messages). */
  private what = "";
  calls = 0;
  /** Controllers of the same subsystem (pair-moves.ts): a call into this one is checked on theirs too. */
  readonly peers: Invariants[] = [];

  constructor(private readonly ctrl: NvmeController, private readonly mem: GuestMemory, private readonly host: WatchedHost) {
    this.watch = new MemoryWatch(mem);
    this.ledger = new CommandLedger(ctrl, (c) => this.regionsOf(c), (m) => this.violation(m));
  }

  violation(msg: string): void {
    if (this.violations.length < MAX_VIOLATIONS) this.violations.push(this.what ? `${msg} [during: ${this.what}]` : msg);
  }

  private read32 = (a: number): number | undefined => (a >= 0 && a + 4 <= this.mem.ramSize ? this.mem.read32(a) : undefined);

  /** Guest bytes command `c` may store into: its data-in buffer, a CQ it creates, shadow pages it configures. */
  private regionsOf(c: Command): Region[] {
    const prp1 = c.prp1Lo + c.prp1Hi * 2 ** 32;
    const prp2 = c.prp2Lo + c.prp2Hi * 2 ** 32;
    if (c.sqid === 0 && c.opcode === O.ADMIN_CREATE_CQ) return [[prp1, prp1 + ((c.cdw10 >>> 16) + 1) * 16]];
    if (c.sqid === 0 && c.opcode === O.ADMIN_DOORBELL_BUFFER_CONFIG) return [[prp1, prp1 + DB_SPAN], [prp2, prp2 + DB_SPAN]];
    // A longer transfer than MDTS allows is refused before any data moves.
    // Namespaces come and go (namespace-moves.ts): the block size is the one at fetch.
    const ns = c.sqid === 0 ? undefined : deviceOf(this.ctrl).nsTable.attached(c.nsid);
    const lbaSize = ns?.blockSize ?? 512;
    // A read on a namespace with metadata also fills the metadata: after each block (extended LBAs) or at MPTR.
    const meta = c.opcode === O.IO_READ && ns?.meta ? ((c.cdw12 & 0xffff) + 1) * ns.metaSize : 0;
    const extended = ns?.protection.extended === true;
    const len = Math.min(dataInLength(c.sqid, c.opcode, c.cdw10, c.cdw11, c.cdw12, lbaSize) + (extended ? meta : 0), this.ctrl.config.mdtsBytes);
    const regions = len ? dataRegions(c, len, hotPathOf(this.ctrl).pageSize, this.read32) : [];
    if (meta && !extended) regions.push([c.mptrLo + c.mptrHi * 2 ** 32, c.mptrLo + c.mptrHi * 2 ** 32 + meta]);
    return regions;
  }

  /** CQ rings and shadow pages the device holds now. */
  private deviceRegions(): Region[] {
    const hp = hotPathOf(this.ctrl);
    const out: Region[] = [];
    const limit = hp.cqLimit;
    for (let q = 0; q < limit; q++) {
      const cq = hp.completionQueue(q);
      if (cq) out.push([cq.base, cq.base + cq.size * 16]);
    }
    const pages = hp.shadowPages();
    if (pages) {
      out.push([pages.shadow, pages.shadow + DB_SPAN]);
      out.push([pages.eventIdx, pages.eventIdx + DB_SPAN]);
    }
    return out;
  }

  private begin(what: string): Region[] {
    this.calls++;
    this.what = what;
    this.host.dirty = [];
    this.watch.snapshot();
    // Commands pending now may complete (and leave the ledger) during the call.
    return [...this.deviceRegions(), ...this.ledger.allowedRegions()];
  }

  private end(before: Region[]): void {
    const allowed = () => [...before, ...this.deviceRegions(), ...this.ledger.allowedRegions()];
    const { outsideAllowed, notDirty } = this.watch.changes(allowed, this.host.dirty);
    const fmt = (rs: Region[]) => rs.map(([s, e]) => `0x${s.toString(16)}..0x${e.toString(16)}`).join(", ");
    if (outsideAllowed.length) this.violation(`the device stored into guest RAM it was not given: ${fmt(outsideAllowed)}`);
    if (notDirty.length) this.violation(`the device stored into guest RAM without reporting it dirty: ${fmt(notDirty)}`);
    const broken = this.watch.brokenCanaries();
    if (broken.length) this.violation(`bytes outside guest RAM changed at memory offsets ${broken.join(", ")}`);
    for (const e of this.host.internalErrors.splice(0)) this.violation(`a handler failed: ${e.split("\n")[0]}`);
    this.ledger.check();
    this.ledger.endStep();
    this.what = "";
  }

  call(what: string, fn: () => void): void {
    const before = this.begin(what);
    const peers = this.peers.map((p) => p.begin(`${what} (on the other controller)`));
    try {
      fn();
    } catch (e) {
      this.violation(`exception escaped the device: ${e instanceof Error ? e.stack : String(e)}`);
    }
    this.peers.forEach((p, i) => p.end(peers[i]));
    this.end(before);
  }

  async callAsync(what: string, fn: () => Promise<void>): Promise<void> {
    const before = this.begin(what);
    const peers = this.peers.map((p) => p.begin(`${what} (on the other controller)`));
    try {
      await fn();
    } catch (e) {
      this.violation(`exception escaped the device: ${e instanceof Error ? e.stack : String(e)}`);
    }
    this.peers.forEach((p, i) => p.end(peers[i]));
    this.end(before);
  }

  /** Right after the device recomputed its line (a tick, a CQ head doorbell). */
  checkInterruptLine(): void {
    const hp = hotPathOf(this.ctrl);
    const ready = (this.ctrl.mmioRead32(R.REG_CSTS) & R.CSTS_RDY) !== 0;
    const masked = hp.interruptMasked;
    const coalescing = hp.coalescing;
    const aggregating = coalescing.threshold !== 0 || coalescing.time !== 0;
    let owed = false;
    let adminOwed = false;
    const owing: string[] = [];
    const limit = hp.cqLimit;
    for (let q = 0; ready && q < limit; q++) {
      const cq = hp.completionQueue(q);
      if (!cq || !cq.interrupts) continue;
      const head = hp.doorbellValue(q * 2 + 1);
      if (head < cq.size && head !== cq.tail) {
        owed = true;
        if (q === 0) adminOwed = true;
        owing.push(`CQ ${q} head ${head} tail ${cq.tail} signalled ${cq.signalled ? 1 : 0}`);
      }
    }
    const level = this.host.level;
    const why = `(ready ${ready}, masked ${masked}, aggregating ${aggregating}; ${owing.join("; ") || "no CQ holds entries"})`;
    if (level && (!owed || masked)) this.violation(`INTx is up with no interrupt owed ${why}`);
    if (!level && !masked && (aggregating ? adminOwed : owed)) this.violation(`INTx is down while an interrupt is owed ${why}`);
  }

  /** After a reset with the backend settled: nothing outstanding, the line down. */
  checkQuiet(): void {
    if (this.ledger.pending !== 0) this.violation(`${this.ledger.pending} commands still outstanding after a controller reset`);
    if (this.host.level) this.violation("INTx is up after a controller reset");
  }
}
