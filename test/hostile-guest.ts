// A hostile guest: random register writes, doorbell values, submission entries (admin and I/O,
// random opcodes, PRPs pointing anywhere), shadow doorbell scribbles. Shared by the quick test and
// the long `npm run fuzz`. The device must answer with statuses, never throw, hang, or store
// outside guest RAM.

import { HostDriver } from "./driver/host-driver.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import * as O from "../src/spec/opcodes.ts";

/** xorshift32: reproducible from a seed. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x;
  };
}

const OPCODES = [
  O.ADMIN_DELETE_SQ, O.ADMIN_CREATE_SQ, O.ADMIN_GET_LOG_PAGE, O.ADMIN_DELETE_CQ, O.ADMIN_CREATE_CQ, O.ADMIN_IDENTIFY,
  O.ADMIN_ABORT, O.ADMIN_SET_FEATURES, O.ADMIN_GET_FEATURES, O.ADMIN_ASYNC_EVENT_REQUEST, O.ADMIN_DOORBELL_BUFFER_CONFIG,
  O.IO_READ, O.IO_WRITE, O.IO_COMPARE, O.IO_WRITE_ZEROES, O.IO_DATASET_MANAGEMENT, O.IO_FLUSH, 0x7f, 0xff,
];

export interface FuzzResult { steps: number; completions: number; canaries: number[]; stillWorks: boolean; internalErrors: string[] }

export async function fuzz(seed: number, steps: number): Promise<FuzzResult> {
  const r = rng(seed);
  const d = await HostDriver.create({ name: "fuzz0", namespaces: [{ backend: new MemoryBackend(1 << 20) }, { backend: new MemoryBackend(1 << 20), logical_block_size: 4096 }], max_ioqpairs: 4 });
  await d.bringUp({ pairs: 2, shadow: true, queueSize: 32 });
  const ram = d.mem.ramSize;
  // Addresses: mostly inside RAM, some at its edges, some far outside.
  const addr = () => {
    const k = r() % 8;
    if (k < 5) return (r() % ram) & ~3;
    if (k === 5) return ram - (r() % 8192);
    if (k === 6) return ram + (r() % 65536);
    return r() * 4096 + (r() % 2) * 2 ** 32;
  };
  let completions = 0;
  for (let i = 0; i < steps; i++) {
    const k = r() % 100;
    if (k < 70) {
      const q = r() % 3; // admin, 1 or 2 (if they still exist)
      if (!d.sqs.has(q)) continue;
      d.submit(q, {
        opcode: OPCODES[r() % OPCODES.length], nsid: r() % 4 === 0 ? r() : 1 + (r() % 3), flags: r() % 10 === 0 ? r() & 0xff : 0,
        prp1: addr(), prp2: addr(), cdw10: r() % 3 === 0 ? r() : r() % 64, cdw11: r() % 3 === 0 ? r() : r() % 8,
        cdw12: r() % 3 === 0 ? r() : r() % 64, cdw13: r(), cdw14: r(), cdw15: r(),
      });
    } else if (k < 80) {
      d.setReg(0x1000 + (r() % 16) * 4, r() % 4 === 0 ? r() : r() % 40);
    } else if (k < 88) {
      d.mem.write32(d.shadow + (r() % 16) * 4, r() % 4 === 0 ? r() : r() % 40);
    } else if (k < 92) {
      d.setReg([0x0c, 0x10, 0x20, 0x24, 0x28, 0x2c, 0x30, 0x34, 0x1c][r() % 9], r());
    } else {
      d.ctrl.tick();
    }
    for (const q of [...d.cqs.keys()]) completions += d.reap(q).length;
    // A broken queue state is the guest's problem: reset and bring the device up again now and then.
    if (i % 500 === 499) {
      d.disable();
      await d.bringUp({ pairs: 2, shadow: true, queueSize: 32 });
    }
  }
  const canaries = d.brokenCanaries();
  d.disable();
  await d.bringUp({ pairs: 1, shadow: true });
  const c = await d.run(1, { opcode: O.IO_FLUSH, nsid: 1 });
  // A handler that threw (turned into Internal Error) is a device bug, whatever the input.
  const internalErrors = d.host.logs.filter((l) => l.includes("failed:") && l.includes("command"));
  return { steps, completions, canaries, stillWorks: c.status === 0, internalErrors };
}
