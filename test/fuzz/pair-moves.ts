// Two controllers of one NVM subsystem under the hostile host: `fuzz0` (the hostile host's machine)
// and `fuzz1`, made with `sharedWith`, in guest RAM of its own so each controller's invariants
// (invariants.ts) see only its own stores; every call into either is checked on both (a call into
// one may post a notice on the other). Moves: the second controller enabled, disabled, reset and
// shut down at random moments while the first does I/O; hostile admin commands through it on the
// shared state (Namespace Attachment with controller lists naming 1, 2, unknown CNTLIDs and
// duplicates, Namespace Management, Format NVM, Sanitize, Identify CNS 12h/13h); its own I/O and
// hostile inputs (the hostile host's moves). Checked besides: both controllers see the same
// namespaces, Identify through each agrees with the attachment, and data written through one and
// completed survives a reset of the other.

import { HostileHost } from "./hostile-host.ts";
import { firstOfEachKind } from "./run.ts";
import { deviceOf, hotPathOf } from "../../src/controller/controller.ts";
import * as R from "../../src/spec/registers.ts";
import * as O from "../../src/spec/opcodes.ts";
import * as I from "../../src/spec/identify.ts";

const CC_ON = R.CC_EN | (6 << R.CC_IOSQES_SHIFT) | (4 << R.CC_IOCQES_SHIFT);

export class FuzzPair {
  readonly a: HostileHost;
  readonly b: HostileHost;
  /** Pair-specific moves made, and data-survives-reset checks that ran (coverage). */
  pairMoves = 0;
  survivalChecks = 0;

  constructor(seed: number) {
    this.a = new HostileHost(seed);
    this.b = new HostileHost(seed ^ 0x5a5a5a5a, true, this.a);
  }

  async start(): Promise<void> {
    await this.a.start();
    await this.b.start();
    this.a.inv.peers.push(this.b.inv);
    this.b.inv.peers.push(this.a.inv);
  }

  get inputs(): number {
    return this.a.inputs + this.b.inputs + this.pairMoves;
  }

  /** Violations of both controllers' invariants, named after the controller. */
  takeViolations(): string[] {
    return [...this.a.inv.violations.splice(0).map((v) => `fuzz0: ${v}`), ...this.b.inv.violations.splice(0).map((v) => `fuzz1: ${v}`)];
  }

  async episode(steps: number): Promise<void> {
    this.a.bringUp(true);
    this.b.bringUp(true);
    for (let i = 0; i < steps; i++) {
      const pick = this.a.r.below(100);
      if (pick < 65) await this.a.step();
      else if (pick < 85) await this.b.step();
      else await this.pairMove();
      this.checkViews();
    }
    await this.survivesReset();
    // The second controller answers Identify Controller only once the first has I/O queues
    // (src/admin/subsystem-order.ts): the first is brought up before the second's last check.
    for (let i = 0; i < 8 && !hotPathOf(this.a.ctrl).hasIoQueues(); i++) this.a.bringUp(true);
    await this.b.finish();
    await this.a.finish();
    this.checkIdentify(this.a, 1);
    this.checkIdentify(this.b, 2);
  }

  private async pairMove(): Promise<void> {
    this.pairMoves++;
    const r = this.a.r;
    const via = r.chance(75) ? this.b : this.a;
    const nsid = () => r.pick([1, 2, 3, 4, 5, 8, 9, 0, 0xffffffff, r.u32()]);
    const buf = () => (r.chance(15) ? via.hostilePrps(4096) : via.buffer(4096));
    switch (r.below(9)) {
      case 0: { // the second controller's life while the first does I/O: reset, disable, shutdown
        const b = this.b;
        const how = r.below(4);
        if (how === 0) b.bringUp(r.chance(80));
        else if (how === 1) b.writeRegister(R.REG_CC, 0);
        else if (how === 2) b.writeRegister(R.REG_CC, CC_ON | (r.pick([R.SHN_NORMAL, R.SHN_ABRUPT]) << R.CC_SHN_SHIFT));
        else b.writeRegister(R.REG_CC, r.chance(50) ? CC_ON : r.u32());
        for (let i = r.below(4); i >= 0; i--) this.a.validIo();
        return;
      }
      case 1: case 2: { // attach or detach with a controller list: 1, 2, unknown, duplicates, too long
        const [p1, p2] = buf();
        const list = r.pick([[1], [2], [1, 2], [2, 1], [2, 2], [1, 1], [3], [0], [0xffff], [], [1, 2, 3], [2, 0xffff]]);
        const count = r.chance(90) ? list.length : r.pick([0, 2047, 2048, 0xffff]);
        via.w32(p1, count | ((list[0] ?? 0) << 16));
        via.w32(p1 + 4, (list[1] ?? 0) | ((list[2] ?? 0) << 16));
        via.admin({ opcode: O.ADMIN_NS_ATTACHMENT, nsid: r.chance(80) ? 1 + r.below(5) : nsid(), prp1: p1, prp2: p2, cdw10: r.chance(90) ? r.below(2) : r.u32() });
        return;
      }
      case 3: { // Namespace Management: a small create (private or shareable) or a delete
        if (r.chance(50)) {
          via.admin({ opcode: O.ADMIN_NS_MANAGEMENT, nsid: nsid(), cdw10: 1 });
          return;
        }
        const [p1, p2] = buf();
        const blocks = r.pick([8, 64, 128, 4096, r.u32()]);
        via.w32(p1, blocks);
        via.w32(p1 + 4, 0);
        via.w32(p1 + 8, blocks);
        via.w32(p1 + 12, 0);
        via.w32(p1 + 24, r.below(2) << 16);
        via.w32(p1 + 28, (r.chance(70) ? 1 : r.below(256)) << 16); // NMIC: shareable mostly
        via.admin({ opcode: O.ADMIN_NS_MANAGEMENT, prp1: p1, prp2: p2, cdw10: 0 });
        return;
      }
      case 4: // Format NVM: one namespace or all, LBA formats and secure erase settings near and far
        via.admin({ opcode: O.ADMIN_FORMAT_NVM, nsid: nsid(), cdw10: (r.chance(80) ? r.below(2) : r.below(16)) | (r.chance(80) ? 0 : r.below(8) << 9) | (r.chance(90) ? 0 : r.u32() & ~0xfff) });
        return;
      case 5: // Sanitize (now and then: it holds the subsystem's I/O until the slow namespace is erased)
        if (r.chance(40)) via.admin({ opcode: O.ADMIN_SANITIZE, nsid: r.chance(80) ? 0 : nsid(), cdw10: r.chance(85) ? r.below(5) | (r.below(2) << 3) | (r.below(2) << 9) : r.u32(), cdw11: r.chance(80) ? 0 : r.u32() });
        return;
      case 6: { // Identify: the controllers attached to a namespace (12h) and in the subsystem (13h)
        const [p1, p2] = buf();
        via.admin({ opcode: O.ADMIN_IDENTIFY, nsid: r.chance(70) ? 1 + r.below(5) : nsid(), prp1: p1, prp2: p2, cdw10: r.pick([I.CNS_NS_CONTROLLER_LIST, I.CNS_CONTROLLER_LIST]) | (r.pick([0, 1, 2, 3, 0xffff]) << 16) });
        return;
      }
      case 7: await this.survivesReset(); return;
      default: // I/O through the second controller on the shared namespaces
        for (let i = r.below(6); i >= 0; i--) this.b.validIo();
    }
  }

  /** Both controllers list the same namespaces, each over the same backend (the attachment may differ). */
  private checkViews(): void {
    const key = (h: HostileHost) => h.ctrl.namespaces().map((n) => `${n.nsid}:${n.bytes}:${n.logicalBlockSize}`).join(" ");
    const [ka, kb] = [key(this.a), key(this.b)];
    if (ka !== kb) this.a.inv.violation(`the controllers disagree on the subsystem's namespaces: fuzz0 [${ka}], fuzz1 [${kb}]`);
    const backends = new Map(this.a.ctrl.namespaces().map((n) => [n.nsid, n.backend]));
    for (const n of this.b.ctrl.namespaces()) {
      if (backends.has(n.nsid) && backends.get(n.nsid) !== n.backend) this.a.inv.violation(`namespace ${n.nsid} has a different backend through each controller`);
    }
  }

  /** Right after a bring-up: the Active Namespace List and each namespace's controller list say what the attachment says. */
  private checkIdentify(h: HostileHost, cntlid: number): void {
    const ids = (cns: number, nsid: number, width: 2 | 4): number[] | undefined => {
      const [p1, p2] = h.buffer(4096); // contiguous in guest RAM, maybe across a page boundary
      for (let i = 0; i < 4096; i += 4) h.w32(p1 + i, 0);
      if (h.admin({ opcode: O.ADMIN_IDENTIFY, nsid, prp1: p1, prp2: p2, cdw10: cns }) !== 0) return undefined;
      const v = new DataView(h.mem.bytes(p1, 4096).slice().buffer);
      if (width === 2) return Array.from({ length: Math.min(v.getUint16(0, true), 2047) }, (_, i) => v.getUint16(2 + i * 2, true));
      const out: number[] = [];
      for (let i = 0; i < 1024 && v.getUint32(i * 4, true); i++) out.push(v.getUint32(i * 4, true));
      return out;
    };
    const attached = (x: HostileHost) => new Set(x.ctrl.namespaces().filter((n) => n.attached).map((n) => n.nsid));
    const mine = [...attached(h)].sort((x, y) => x - y).join(",");
    const active = ids(I.CNS_ACTIVE_NS_LIST, 0, 4)?.join(",");
    if (active !== mine) h.inv.violation(`controller ${cntlid}: Identify's active namespaces [${active}] but attached [${mine}]`);
    const [onA, onB] = [attached(this.a), attached(this.b)];
    for (const n of h.ctrl.namespaces()) {
      const want = [onA.has(n.nsid) ? 1 : 0, onB.has(n.nsid) ? 2 : 0].filter(Boolean).join(",");
      const got = ids(I.CNS_NS_CONTROLLER_LIST, n.nsid, 2)?.join(",");
      if (got !== want) h.inv.violation(`controller ${cntlid}: namespace ${n.nsid}'s controller list [${got}] but attached to [${want}]`);
    }
  }

  /** Data written through one controller and completed is in the namespace after the other resets or shuts down. */
  private async survivesReset(): Promise<void> {
    for (let i = 0; i < 4; i++) await this.a.settle();
    const r = this.a.r;
    const [writer, other] = r.chance(50) ? [this.a, this.b] : [this.b, this.a];
    if (!writer.bringUp(true)) return;
    // A host namespace on memory, 512-byte blocks without metadata (whose layout this check would need to know).
    const plain = (nsid: number) => !deviceOf(writer.ctrl).nsTable.attached(nsid)?.meta;
    const ns = writer.ctrl.namespaces().find((n) => n.attached && n.logicalBlockSize === 512 && n.origin === "host" && n.nsid !== 3 && plain(n.nsid));
    const qid = [...writer.sqs.keys()].find((q) => q !== 0);
    if (!ns || qid === undefined) return;
    const nlb = 1 + r.below(8);
    const slba = r.below(ns.bytes / 512 - nlb);
    const [prp1, prp2] = writer.buffer(nlb * 512);
    const data = Uint8Array.from({ length: nlb * 512 }, () => r.below(256));
    writer.mem.fill(prp1, data); // a valid buffer is contiguous guest RAM, its PRPs name its pages
    const cid = writer.submit(qid, { opcode: O.IO_WRITE, nsid: ns.nsid, prp1, prp2, cdw10: slba, cdw12: nlb - 1 });
    writer.tick(); // a host that wrote only the shadow doorbell: the tick finds it
    const cqid = writer.sqs.get(qid)!.cqid;
    const done = writer.reap(cqid).find(([c]) => c === cid);
    if (!done || done[1] !== 0) return; // refused (a sanitize in progress, a namespace gone): nothing to keep
    other.writeRegister(R.REG_CC, r.chance(30) ? CC_ON | (R.SHN_NORMAL << R.CC_SHN_SHIFT) : 0);
    if (r.chance(50)) other.bringUp(true);
    // Read at once: nothing asynchronous (a Format NVM or Sanitize still waiting on the slow
    // namespace, which may erase it legitimately) runs between the write's completion and here.
    const now = new Uint8Array(nlb * 512);
    if (!ns.backend.tryRead(slba * 512, now)) return;
    this.survivalChecks++;
    if (!now.every((v, i) => v === data[i])) writer.inv.violation(`data written through one controller (namespace ${ns.nsid}, LBA ${slba}+${nlb}) changed when the other reset`);
  }
}

export interface PairReport {
  seed: number;
  inputs: number;
  pairMoves: number;
  survivalChecks: number;
  fetched: [number, number];
  statuses: Record<string, number>;
  violations: string[];
}

/** A two-controller fuzz run of about `inputs` inputs from one seed. */
export async function fuzzPair(seed: number, inputs: number, episodeSteps = 300): Promise<PairReport> {
  const p = new FuzzPair(seed);
  await p.start();
  const keep = firstOfEachKind();
  const violations: string[] = [];
  while (p.inputs < inputs && violations.length < 10) {
    await p.episode(Math.min(episodeSteps, inputs - p.inputs));
    for (const v of keep(p.takeViolations())) violations.push(`pair seed ${seed}, input ${p.inputs}: ${v}`);
  }
  const statuses = new Map<number, number>();
  for (const h of [p.a, p.b]) for (const [k, v] of h.inv.ledger.statuses) statuses.set(k, (statuses.get(k) ?? 0) + v);
  return {
    seed, inputs: p.inputs, pairMoves: p.pairMoves, survivalChecks: p.survivalChecks,
    fetched: [p.a.inv.ledger.fetched, p.b.inv.ledger.fetched],
    statuses: Object.fromEntries([...statuses].sort((x, y) => x[0] - y[0]).map(([k, v]) => [k.toString(16), v])), violations,
  };
}
