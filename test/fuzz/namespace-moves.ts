// The hostile host's namespace moves: Namespace Management create/delete with hostile sizes,
// formats and NSIDs, Namespace Attachment with hostile controller lists, and the host adding and
// removing namespaces, all while I/O is in flight on them (the slow namespace holds commands until
// the fuzzer settles it). The invariants are the hostile host's: each call is checked by `call`.

import type { NvmeController } from "../../src/controller/controller.ts";
import type { BlockBackend } from "../../src/backends/block-backend.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import * as O from "../../src/spec/opcodes.ts";
import type { Rng } from "../driver/rng.ts";
import type { Sqe } from "../driver/host-driver.ts";

/** What the moves need of the hostile host. */
export interface NamespaceFuzzHost {
  readonly r: Rng;
  readonly ctrl: NvmeController;
  /** Submits an admin command and reaps its completion: the status, or -1 when none came. */
  admin(e: Sqe): number;
  /** A buffer in guest RAM of `len` bytes: [prp1, prp2]; `hostile`: PRPs that may leave RAM or overlap queues. */
  buffer(len: number, hostile: boolean): [number, number];
  write32(addr: number, v: number): void;
  /** Runs a host call into the device under the invariants. */
  call(what: string, fn: () => void): void;
}

/** Host namespaces taken away by a move, by NSID, to be given back by a later one. */
const removed = new WeakMap<NvmeController, Map<number, { backend: BlockBackend; lbs: 512 | 4096 }>>();

export function namespaceMove(h: NamespaceFuzzHost): void {
  const r = h.r;
  const nsid = () => r.pick([1, 2, 3, 4, 5, 8, 9, 0, 0xffffffff, r.u32()]);
  const away = removed.get(h.ctrl) ?? new Map();
  removed.set(h.ctrl, away);
  switch (r.below(6)) {
    case 0: { // create: NSZE, NCAP, FLBAS, DPS and NMIC from plausible to absurd
      const [p1, p2] = h.buffer(4096, r.chance(20));
      const size = r.pick([0, 1, 8, 64, 4096, 1 << 20, 2 ** 32 - 1, r.u32()]);
      h.write32(p1, size);
      h.write32(p1 + 4, r.chance(10) ? r.u32() : 0);
      h.write32(p1 + 8, r.chance(80) ? size : r.u32());
      h.write32(p1 + 12, 0);
      h.write32(p1 + 24, (r.chance(70) ? r.below(2) : r.below(256)) << 16 | (r.chance(90) ? 0 : r.below(256)) << 8); // FLBAS at 26, NSFEAT at 24
      h.write32(p1 + 28, r.chance(90) ? 0 : r.u32()); // DPS at 29, NMIC at 30
      h.admin({ opcode: O.ADMIN_NS_MANAGEMENT, nsid: r.chance(90) ? 0 : r.u32(), prp1: p1, prp2: p2, cdw10: r.chance(90) ? 0 : r.below(16), cdw11: r.chance(90) ? 0 : r.u32() });
      return;
    }
    case 1: // delete, FFFFFFFFh now and then
      h.admin({ opcode: O.ADMIN_NS_MANAGEMENT, nsid: nsid(), cdw10: 1 });
      return;
    case 2: { // attach or detach with a controller list
      const [p1, p2] = h.buffer(4096, r.chance(20));
      const list = r.pick([[1], [], [2], [1, 1], [0xffff], [1, 2]]);
      h.write32(p1, r.chance(90) ? list.length | (list[0] ?? 0) << 16 : r.u32());
      h.write32(p1 + 4, list[1] ?? 0);
      h.admin({ opcode: O.ADMIN_NS_ATTACHMENT, nsid: nsid(), prp1: p1, prp2: p2, cdw10: r.chance(90) ? r.below(2) : r.u32() });
      return;
    }
    case 3: { // the host removes a namespace, maybe with I/O in flight on it
      const ns = h.ctrl.namespaces();
      if (!ns.length) return;
      const n = r.pick(ns);
      h.call(`removeNamespace(${n.nsid})`, () => {
        if (n.origin === "host") away.set(n.nsid, { backend: n.backend, lbs: n.logicalBlockSize as 512 | 4096 });
        h.ctrl.removeNamespace(n.nsid).catch((e) => h.call(`removal of namespace ${n.nsid}`, () => {
          throw e;
        }));
      });
      return;
    }
    case 4: { // the host gives a removed namespace back where it was, or adds a small new one
      const taken = new Set(h.ctrl.namespaces().map((n) => n.nsid));
      const back = [...away].find(([id]) => !taken.has(id));
      h.call("addNamespace", () => {
        if (back) {
          away.delete(back[0]);
          h.ctrl.addNamespace({ backend: back[1].backend, logicalBlockSize: back[1].lbs, nsid: back[0] });
        } else if (taken.size < h.ctrl.config.nn) {
          h.ctrl.addNamespace({ backend: new MemoryBackend(64 << 10) });
        }
      });
      return;
    }
    default: { // the lists and structures the changes show in, and the Changed Namespace List
      const [p1, p2] = h.buffer(4096, r.chance(30));
      if (r.chance(50)) h.admin({ opcode: O.ADMIN_IDENTIFY, nsid: nsid(), prp1: p1, prp2: p2, cdw10: r.pick([0x00, 0x02, 0x10, 0x11, 0x12, 0x13]) | (r.chance(80) ? 0 : r.below(4) << 16) });
      else h.admin({ opcode: O.ADMIN_GET_LOG_PAGE, nsid: 0xffffffff, prp1: p1, prp2: p2, cdw10: 0x04 | (r.below(2) << 15) | (r.below(1024) << 16) });
    }
  }
}
