// How long a QD 1 completion waits for its interrupt, with and without interrupt coalescing, in
// one guest under Node: for each I/O, the host clock from the controller posting the completion
// to the INTx line going up, and where the completion was posted (in a doorbell write, in the
// timer hook, with the guest halted).
//
//   tsx bench/guest/irq-latency.ts [--runtime S] [--rounds N] [--coalesce 0x107] [--coalesced-first]
//
// Rounds alternate without and with coalescing (default 2 each, 5 s fio jobs of 4 KiB random
// reads at QD 1 on the zeros appended to namespace 1; --coalesced-first starts with coalescing).
// Output: one line per job.

import { Guest } from "../../test/project-guest/guest.ts";
import { deviceOf } from "../../src/controller/controller.ts";
import type { Command } from "../../src/command.ts";
import type { Status } from "../../src/spec/status.ts";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNTIME = arg("--runtime", 5);
const ROUNDS = arg("--rounds", 2);
const COALESCE = arg("--coalesce", 0x107); // THR 7 (8 entries), TIME 1 (100 us)
const APPEND = 64 << 20;
const FIRST = process.argv.includes("--coalesced-first") ? 1 : 0;

const g = await Guest.boot({ appendBytes: APPEND, serial: "V86IRQLAT1" });
const offset = g.disk.byteLength - APPEND;
const ctl = g.nvme.controller;
const dev = deviceOf(ctl);
const intx = g.nvme.intx!;
const cpu = g.nvme.cpu;
const halted = (): boolean => cpu.in_hlt !== undefined && new Uint8Array(cpu.wasm_memory.buffer, cpu.in_hlt.byteOffset, 1)[0] !== 0;

interface Wait {
  ms: number;
  halted: boolean;
  inHook: boolean;
}
let recording = false;
let inHook = false;
let pending: { t: number; halted: boolean; inHook: boolean } | undefined;
const waits: Wait[] = [];
let idles = 0;

const post = dev.post.bind(dev);
dev.post = (c: Command, s: Status): void => {
  post(c, s);
  if (recording && c.sqid !== 0 && !pending) pending = { t: performance.now(), halted: halted(), inHook };
};
const sync = intx.sync.bind(intx);
intx.sync = (): void => {
  const was = intx.asserted;
  sync();
  if (pending && !was && intx.asserted) {
    waits.push({ ms: performance.now() - pending.t, halted: pending.halted, inHook: pending.inHook });
    pending = undefined;
  }
};
const idle = ctl.idle.bind(ctl);
ctl.idle = (): void => {
  idles++;
  idle();
};
const hook = cpu.run_hardware_timers;
cpu.run_hardware_timers = function (this: typeof cpu, acpi: boolean, now: number): number {
  inHook = true;
  try {
    return hook.call(this, acpi, now);
  } finally {
    inHook = false;
  }
};

const fio = (runtime: number): string =>
  `fio --name=qd1 --filename=/dev/nvme0n1 --offset=${offset} --size=64M --rw=randread --bs=4k --direct=1 ` +
  `--ioengine=libaio --iodepth=1 --time_based --runtime=${runtime} --eta=never --output-format=json --output=/tmp/lat.json`;
const pct = (a: number[], p: number): number => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))] ?? NaN;

try {
  await g.ok(fio(3), 120_000); // warm-up
  for (let round = 0; round < ROUNDS * 2; round++) {
    const value = (round + FIRST) % 2 === 0 ? 0 : COALESCE;
    await g.ok(`nvme set-feature /dev/nvme0 -f 8 -v ${value} >/dev/null`);
    waits.length = 0;
    idles = 0;
    recording = true;
    await g.ok(fio(RUNTIME), (RUNTIME + 120) * 1000);
    recording = false;
    pending = undefined;
    const r = JSON.parse(await g.ok("cat /tmp/lat.json")).jobs[0].read;
    const ms = waits.map((w) => w.ms);
    const count = (f: (w: Wait) => boolean): number => waits.filter(f).length;
    console.log(
      `coalescing 0x${value.toString(16).padStart(3, "0")}: ${r.iops.toFixed(0)} IOPS, p99 ${(r.clat_ns.percentile["99.000000"] / 1e6).toFixed(2)} ms; ` +
        `post -> INTx: ${waits.length} I/Os, p50 ${pct(ms, 0.5).toFixed(3)} ms, p99 ${pct(ms, 0.99).toFixed(3)} ms, over 1 ms ${count((w) => w.ms > 1)}; ` +
        `posted in a doorbell write ${count((w) => !w.inHook)}, in the timer hook ${count((w) => w.inHook)} (guest halted ${count((w) => w.halted)}); idle() ${idles}`,
    );
  }
} finally {
  await g.stop();
}
