// Snapshots as hostile input: a hostile-host run leaves genuine snapshots (queues, shadow pages,
// commands in flight on the slow namespace, parked AERs); each input restores one of them after
// mutations (bit flips and out-of-range numbers in the hot path's state region, swapped fields,
// truncation, wrong types, commands in flight edited, duplicated or made up) into a second
// controller of the same configuration, then drives it (timer ticks, doorbells, register reads,
// slow completions). Invariants: the restore either succeeds or throws the clear refusal (an Error
// whose message names the controller and the snapshot); no other exception escapes, before or
// after; no byte outside guest RAM changes; every queue and shadow page the controller holds after
// a restore lies inside guest RAM; and now and then a controller reset and bring-up still gets a
// normal Identify.

import { hotPathOf, NvmeController, type ControllerHost, type ControllerSnapshot } from "../../src/controller/controller.ts";
import { SAVED_STATE } from "../../src/hotpath-state.ts";
import { DeferredBackend } from "../driver/deferred-backend.ts";
import { GuestMemory } from "../driver/guest-memory.ts";
import { Rng } from "../driver/rng.ts";
import { sqeBytes } from "../driver/host-driver.ts";
import * as R from "../../src/spec/registers.ts";
import * as O from "../../src/spec/opcodes.ts";
import { DOORBELL_BASE } from "../../src/spec/queue.ts";
import { ADMIN_CQ, ADMIN_SQ, fuzzOptions, HostileHost, RAM, SERIAL } from "./hostile-host.ts";

export interface SnapshotFuzzReport {
  seed: number;
  inputs: number;
  restored: number;
  refused: number;
  violations: string[];
}

const REFUSAL = /^fuzz0: (snapshot refused: |the snapshot was taken with |unknown snapshot version)/;

class QuietHost implements ControllerHost {
  level = false;
  setIrq(level: boolean): void {
    this.level = level;
  }
  markDirty(): void {}
  log(): void {}
}

/** Genuine snapshots from a hostile-host run of `seed`. */
async function collect(seed: number, count: number): Promise<ControllerSnapshot[]> {
  // The namespace table stays as configured, so the snapshots fit the controller they go into.
  const h = new HostileHost(seed, false);
  await h.start();
  const pool: ControllerSnapshot[] = [];
  let step = 0;
  while (pool.length < count) {
    await h.episode(60, () => {
      if (++step % 7 === 0 && pool.length < count) pool.push(structuredClone(h.ctrl.saveState()));
    });
  }
  return pool;
}

const EDGES = [0, 1, 2, 3, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, RAM - 64, RAM - 16, RAM - 4096, RAM, RAM + 4096, 0x7fffffff, 0x80000000, 0xfffff000, 0xffffffff];
const JUNK: unknown[] = [null, undefined, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, "0", "x", [], {}, true, new Uint8Array(3), 1e300];

class Mutator {
  constructor(private readonly r: Rng) {}

  private value(): unknown {
    return this.r.chance(70) ? this.r.pick(EDGES) : this.r.pick(JUNK);
  }

  /** The queue tables and header get most of the flips: that is where guest addresses live. */
  private hotOffset(): number {
    const r = this.r;
    switch (r.below(4)) {
      case 0: return r.below(0x40);
      case 1: return SAVED_STATE.sq(0).at + r.below(8 * SAVED_STATE.sq(0).bytes);
      case 2: return SAVED_STATE.cq(0).at + r.below(8 * SAVED_STATE.cq(0).bytes);
      default: return r.below(SAVED_STATE.bytes);
    }
  }

  /** A namespace's saved format: LBA format, protection settings, metadata chunks. */
  private format(e: Record<string, unknown>): void {
    const r = this.r;
    const chunks = Array.isArray(e.metadata) ? (e.metadata as Record<string, unknown>[]) : [];
    switch (r.below(4)) {
      case 0:
        e.lbaf = r.chance(70) ? r.below(8) : this.value();
        return;
      case 1:
        e.protection = r.chance(70) ? { extended: r.chance(50), pi: r.below(8), piFirst: r.chance(50) } : this.value();
        return;
      case 2:
        if (chunks.length && r.chance(70)) r.pick(chunks)[r.pick(["chunk", "bytes"])] = r.chance(50) ? r.pick([...EDGES, r.below(4)]) : new Uint8Array(r.pick([0, 8, 4096 * 8, 4096 * 16 + 1]));
        else e.metadata = this.value();
        return;
      default:
        if (chunks.length) chunks.push({ ...r.pick(chunks) }); // a chunk twice
    }
  }

  mutate(s: Record<string, unknown>): void {
    const r = this.r;
    const hot = s.hot instanceof Uint8Array ? s.hot : undefined;
    const dv = hot && new DataView(hot.buffer, hot.byteOffset, hot.byteLength);
    const regs = s.regs as Record<string, unknown>;
    const cmds = (r.chance(50) ? s.inflight : s.aers) as Record<string, unknown>[];
    const anyCmd = () => (Array.isArray(s.inflight) && s.inflight.length ? r.pick(s.inflight as Record<string, unknown>[]) : undefined);
    switch (r.below(14)) {
      case 0: case 1: case 2: { // bit flips in the state region
        if (!hot) return;
        for (let n = 1 + r.below(8); n > 0; n--) hot[Math.min(this.hotOffset(), hot.length - 1)] ^= 1 << r.below(8);
        return;
      }
      case 3: case 4: { // an out-of-range number in the state region
        if (!dv) return;
        const off = this.hotOffset() & ~3;
        if (off + 4 <= dv.byteLength) dv.setUint32(off, r.chance(80) ? r.pick(EDGES) : r.u32(), true);
        return;
      }
      case 5: { // two fields swapped: in the region, or two registers
        if (dv && r.chance(60)) {
          const a = this.hotOffset() & ~3;
          const b = this.hotOffset() & ~3;
          if (a + 4 > dv.byteLength || b + 4 > dv.byteLength) return;
          const t = dv.getUint32(a, true);
          dv.setUint32(a, dv.getUint32(b, true), true);
          dv.setUint32(b, t, true);
        } else if (regs && typeof regs === "object") {
          const keys = Object.keys(regs);
          const a = r.pick(keys);
          const b = r.pick(keys);
          [regs[a], regs[b]] = [regs[b], regs[a]];
        }
        return;
      }
      case 6: { // truncation
        if (hot && r.chance(50)) s.hot = hot.subarray(0, r.below(hot.length));
        else if (s.errors && typeof s.errors === "object" && r.chance(50)) (s.errors as Record<string, unknown>).ring = new Uint8Array(r.below(4096));
        else delete s[r.pick(["regs", "hot", "features", "health", "errors", "inflight", "aers", "telemetry", "config", "version", "namespaces"])];
        return;
      }
      case 7: { // a register out of range or of the wrong type
        if (!regs || typeof regs !== "object") return;
        regs[r.pick(["cc", "csts", "aqa", "asqLo", "asqHi", "acqLo", "acqHi", "intms"])] = r.chance(60) ? r.pick(EDGES) ^ (r.below(2) << r.below(32)) : this.value();
        return;
      }
      case 8: { // a command in flight edited
        if (!Array.isArray(cmds) || !cmds.length) return;
        const c = r.pick(cmds);
        const k = r.pick(["sqid", "cqid", "opcode", "cid", "nsid", "prp1Lo", "prp1Hi", "prp2Lo", "prp2Hi", "cdw10", "cdw12", "flags", "mptrLo", "mptrHi"]);
        c[k] = r.chance(70) ? r.pick([...EDGES, r.below(16)]) : this.value();
        return;
      }
      case 9: { // a command duplicated, dropped or made up
        if (!Array.isArray(cmds)) return;
        const c = anyCmd();
        if (r.chance(40) && c) cmds.push({ ...c });
        else if (r.chance(50) && cmds.length) cmds.splice(r.below(cmds.length), 1);
        else cmds.push({ sqid: r.below(10), cqid: r.below(10), opcode: r.pick([O.IO_READ, O.IO_WRITE, O.ADMIN_ASYNC_EVENT_REQUEST, r.below(256)]), flags: 0, cid: r.below(8), nsid: r.below(4), cdw10: r.below(512), cdw11: 0, cdw12: r.below(64), cdw13: 0, cdw14: 0, cdw15: 0, prp1Lo: r.pick(EDGES), prp1Hi: r.below(2), prp2Lo: r.pick(EDGES), prp2Hi: 0, dw0: 0, dw1: 0 });
        return;
      }
      case 10: { // features or health fields
        const o = s[r.pick(["features", "health"])] as Record<string, unknown>;
        if (!o || typeof o !== "object") return;
        o[r.pick(Object.keys(o).concat(["extra"]))] = this.value();
        return;
      }
      case 11: { // the error log's position and count, a namespace table entry, or a namespace's format and metadata
        const d = (s.data as { namespaces?: Record<string, unknown>[] } | undefined)?.namespaces;
        if (Array.isArray(d) && d.length && r.chance(30)) return this.format(r.pick(d));
        const t = (s.namespaces as { table?: Record<string, unknown>[] } | undefined)?.table;
        if (Array.isArray(t) && t.length && r.chance(30)) {
          r.pick(t)[r.pick(["nsid", "bytes", "block_size", "attached", "origin"])] = this.value();
          return;
        }
        const e = s.errors as Record<string, unknown>;
        if (e && typeof e === "object") e[r.pick(["next", "count", "ring"])] = this.value();
        return;
      }
      case 12: // a whole field of the wrong type
        s[r.pick(["regs", "hot", "features", "health", "errors", "inflight", "aers", "telemetry", "config", "version", "namespaces"])] = this.value();
        return;
      default: { // the configuration or version it claims
        const c = s.config as Record<string, unknown>;
        if (c && typeof c === "object" && r.chance(50)) c[r.pick(Object.keys(c))] = this.value();
        else s.version = r.pick([0, 2, "1", 1]);
      }
    }
  }
}

export async function fuzzSnapshots(seed: number, inputs: number): Promise<SnapshotFuzzReport> {
  const pool = await collect(seed, 48);
  const r = new Rng(seed * 7919 + 1);
  const m = new Mutator(r);
  const mem = new GuestMemory(RAM, 64 << 10, 64 << 10);
  const slow = new DeferredBackend(256 << 10);
  const host = new QuietHost();
  const ctrl = await NvmeController.create(fuzzOptions(slow), mem, host);
  const report: SnapshotFuzzReport = { seed, inputs: 0, restored: 0, refused: 0, violations: [] };
  const seen = new Set<string>();
  const violation = (msg: string) => {
    const key = msg.replace(/0x[0-9a-f]+|\d+/g, "#");
    if (seen.has(key) || report.violations.length >= 10) return;
    seen.add(key);
    report.violations.push(`snapshot fuzz seed ${seed}, input ${report.inputs}: ${msg}`);
  };
  const guard = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      violation(`exception escaped the device (${what}): ${e instanceof Error ? e.stack : String(e)}`);
    }
  };
  let clock = 0;
  while (report.inputs < inputs && report.violations.length < 10) {
    report.inputs++;
    const s = structuredClone(r.pick(pool)) as unknown as Record<string, unknown>;
    for (let n = 1 + (r.chance(30) ? r.below(4) : 0); n > 0; n--) m.mutate(s);
    let ok = false;
    try {
      ctrl.restoreState(s as unknown as ControllerSnapshot);
      ok = true;
      report.restored++;
    } catch (e) {
      if (e instanceof Error && e.constructor === Error && REFUSAL.test(e.message)) report.refused++;
      else violation(`restore threw something other than the refusal: ${e instanceof Error ? e.stack : String(e)}`);
    }
    if (ok) {
      outsideRam(ctrl).forEach(violation);
      // Drive what was restored: ticks, doorbells (mostly to queues that exist), reads.
      for (let n = r.below(6); n >= 0; n--) {
        const idx = r.chance(80) ? r.below(20) : r.below(2 * SAVED_STATE.queues);
        const value = r.chance(70) ? r.below(70) : r.u32();
        guard("doorbell", () => ctrl.mmioWrite32(DOORBELL_BASE + idx * 4, value));
        guard("tick", () => ctrl.tick((clock += r.below(3))));
      }
      guard("register read", () => ctrl.mmioRead32(R.REG_CSTS));
      guard("counters", () => ctrl.counters);
      if (slow.pending && r.chance(5)) await slow.release();
    }
    const broken = report.inputs % 16 === 0 ? mem.brokenCanaries() : [];
    if (broken.length) {
      violation(`bytes outside guest RAM changed at ${broken.slice(0, 8).join(", ")}`);
      mem.u8().fill(0xa5, 0, mem.ramBase);
      mem.u8().fill(0xa5, mem.ramBase + mem.ramSize, mem.end);
    }
    if (report.inputs % 500 === 0) {
      if (slow.pending) await slow.release();
      const status = bringUpAndIdentify(ctrl, mem);
      if (status !== undefined) violation(status);
    }
  }
  return report;
}

/** Every queue and shadow page the controller holds lies inside guest RAM (read back from its saved state region). */
function outsideRam(ctrl: NvmeController): string[] {
  const hot = hotPathOf(ctrl).saveState();
  const dv = new DataView(hot.buffer, hot.byteOffset, hot.byteLength);
  const u64 = (o: number) => dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 2 ** 32;
  const out: string[] = [];
  for (let q = 0; q < SAVED_STATE.queues; q++) {
    const sq = SAVED_STATE.sq(q);
    const sqSize = dv.getUint32(sq.size, true);
    if (sqSize && u64(sq.base) + sqSize * 64 > RAM) out.push(`SQ ${q} restored outside guest RAM`);
    const cq = SAVED_STATE.cq(q);
    const cqSize = dv.getUint32(cq.size, true);
    if (cqSize && u64(cq.base) + cqSize * 16 > RAM) out.push(`CQ ${q} restored outside guest RAM`);
  }
  const pages = hotPathOf(ctrl).shadowPages();
  if (pages && (pages.shadow + 1024 > RAM || pages.eventIdx + 1024 > RAM)) out.push("shadow doorbell pages restored outside guest RAM");
  return out;
}

/** A controller reset and a minimal bring-up: Identify Controller must answer with the serial. Undefined when it does. */
function bringUpAndIdentify(ctrl: NvmeController, mem: GuestMemory): string | undefined {
  try {
    ctrl.mmioWrite32(R.REG_CC, 0);
    for (let i = 0; i < 16 * 64; i += 4) mem.write32(ADMIN_SQ + i, 0);
    for (let i = 0; i < 16 * 16; i += 4) mem.write32(ADMIN_CQ + i, 0);
    ctrl.mmioWrite32(R.REG_AQA, (15 << 16) | 15);
    ctrl.mmioWrite32(R.REG_ASQ, ADMIN_SQ);
    ctrl.mmioWrite32(R.REG_ASQ + 4, 0);
    ctrl.mmioWrite32(R.REG_ACQ, ADMIN_CQ);
    ctrl.mmioWrite32(R.REG_ACQ + 4, 0);
    ctrl.mmioWrite32(R.REG_CC, R.CC_EN | (6 << R.CC_IOSQES_SHIFT) | (4 << R.CC_IOCQES_SHIFT));
    const id = 0x28000;
    mem.fill(ADMIN_SQ, sqeBytes({ opcode: O.ADMIN_IDENTIFY, prp1: id, cdw10: 1 }, 7));
    ctrl.mmioWrite32(DOORBELL_BASE, 1);
    const dw3 = mem.read32(ADMIN_CQ + 12);
    const sn = new TextDecoder().decode(mem.bytes(id + 4, SERIAL.length));
    if ((dw3 & 0xffff) !== 7 || dw3 >>> 17 !== 0 || sn !== SERIAL) return `after a reset, Identify answered 0x${dw3.toString(16)} with serial "${sn}"`;
    return undefined;
  } catch (e) {
    return `exception escaped the device during a bring-up: ${e instanceof Error ? e.stack : String(e)}`;
  }
}
