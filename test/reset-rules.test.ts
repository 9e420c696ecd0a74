// What each kind of reset leaves of every register and every piece of controller state, as one
// table: a controller is brought up Linux-style, then given state in every place it keeps any
// (INTMS, shutdown status, NSSRO, features, a parked AER, an error log entry, SMART counts,
// shadow doorbells, I/O queues), then reset one way, and each row is read back.
//
// The rules (NVMe base spec 1.4, "Resets"): a controller reset (CC.EN 1 -> 0) returns every
// property but AQA, ASQ and ACQ to its reset value (CC keeps what the host wrote with EN clear),
// deletes every queue, forgets the shadow doorbell pages and returns features without saved
// values to their defaults; logs are not properties and stay. An NVM Subsystem Reset is seen by
// the PCI function as a link reset: every register to its reset value, then CSTS.NSSRO set. A PCI
// reset or the emulator's reboot is a power-on of the function: registers and state from scratch,
// one more power cycle in SMART. A new controller (a power cycle of the page) starts empty.
import { describe, it, expect } from "vitest";
import { HostDriver } from "./driver/host-driver.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import * as R from "../src/spec/registers.ts";
import * as O from "../src/spec/opcodes.ts";
import { deviceOf, hotPathOf } from "../src/controller/controller.ts";
import { ARB_AB_NO_LIMIT } from "../src/spec/features.ts";

const RESETS = ["controller reset", "NVM subsystem reset", "PCI reset / reboot", "power cycle"] as const;
type Reset = (typeof RESETS)[number];

const make = () => HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }], maxQueueEntries: 1024 });

/** A controller holding state everywhere, before the reset. */
async function busy(): Promise<HostDriver> {
  const d = await make();
  d.setReg(R.REG_NSSR, R.NSSR_RESET_VALUE); // leaves CSTS.NSSRO set
  await d.bringUp({ pairs: 2 });
  d.setReg(R.REG_INTMS, 1);
  d.ctrl.setInterruptCoalescing(7, 1);
  deviceOf(d.ctrl).features.arbitration = 3;
  d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST }); // parked
  await d.admin({ opcode: 0xff }); // an error log entry
  await d.write(1, 1, 0, new Uint8Array(512));
  d.setReg(R.REG_CC, d.reg(R.REG_CC) | (R.SHN_NORMAL << R.CC_SHN_SHIFT)); // shutdown complete
  return d;
}

/** Each row: what it reads after the reset, given the driver (before) and the controller's state before. */
interface Before {
  cc: number;
  aqa: number;
  asq: number;
  acq: number;
  errors: number;
  powerCycles: number;
  hostWrites: number;
  cap: [number, number];
}

const CC_AFTER_DISABLE = (b: Before) => b.cc & ~R.CC_EN;

type Expect = Record<Reset, number | boolean | ((b: Before) => number)>;

const ROWS: Array<[string, (d: HostDriver) => number | boolean, Expect]> = [
  ["CAP", (d) => d.reg(R.REG_CAP), { "controller reset": (b) => b.cap[0], "NVM subsystem reset": (b) => b.cap[0], "PCI reset / reboot": (b) => b.cap[0], "power cycle": (b) => b.cap[0] }],
  ["CAP (high)", (d) => d.reg(R.REG_CAP + 4), { "controller reset": (b) => b.cap[1], "NVM subsystem reset": (b) => b.cap[1], "PCI reset / reboot": (b) => b.cap[1], "power cycle": (b) => b.cap[1] }],
  ["VS", (d) => d.reg(R.REG_VS), { "controller reset": R.VS_1_4, "NVM subsystem reset": R.VS_1_4, "PCI reset / reboot": R.VS_1_4, "power cycle": R.VS_1_4 }],
  ["INTMS", (d) => d.reg(R.REG_INTMS), { "controller reset": 0, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["INTMC", (d) => d.reg(R.REG_INTMC), { "controller reset": 0, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["hot path interrupt mask", (d) => hotPathOf(d.ctrl).interruptMasked, { "controller reset": false, "NVM subsystem reset": false, "PCI reset / reboot": false, "power cycle": false }],
  ["CC", (d) => d.reg(R.REG_CC), { "controller reset": CC_AFTER_DISABLE, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["CSTS", (d) => d.reg(R.REG_CSTS), { "controller reset": R.CSTS_NSSRO, "NVM subsystem reset": R.CSTS_NSSRO, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["NSSR", (d) => d.reg(R.REG_NSSR), { "controller reset": 0, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["AQA", (d) => d.reg(R.REG_AQA), { "controller reset": (b) => b.aqa, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["ASQ", (d) => d.reg(R.REG_ASQ), { "controller reset": (b) => b.asq, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["ACQ", (d) => d.reg(R.REG_ACQ), { "controller reset": (b) => b.acq, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["CMBLOC", (d) => d.reg(R.REG_CMBLOC), { "controller reset": 0, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["CMBSZ", (d) => d.reg(R.REG_CMBSZ), { "controller reset": 0, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["BPINFO", (d) => d.reg(R.REG_BPINFO), { "controller reset": 0, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["PMRCAP", (d) => d.reg(R.REG_PMRCAP), { "controller reset": 0, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["queues (admin and I/O)", (d) => [0, 1, 2].some((q) => hotPathOf(d.ctrl).sqExists(q) || hotPathOf(d.ctrl).cqExists(q)), { "controller reset": false, "NVM subsystem reset": false, "PCI reset / reboot": false, "power cycle": false }],
  ["shadow doorbell config", (d) => hotPathOf(d.ctrl).shadowPages() !== undefined, { "controller reset": false, "NVM subsystem reset": false, "PCI reset / reboot": false, "power cycle": false }],
  ["interrupt coalescing", (d) => d.ctrl.interruptCoalescing.threshold + d.ctrl.interruptCoalescing.time + hotPathOf(d.ctrl).coalescing.time, { "controller reset": 0, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["arbitration feature", (d) => deviceOf(d.ctrl).features.arbitration, { "controller reset": ARB_AB_NO_LIMIT, "NVM subsystem reset": ARB_AB_NO_LIMIT, "PCI reset / reboot": ARB_AB_NO_LIMIT, "power cycle": ARB_AB_NO_LIMIT }],
  ["parked AERs", (d) => deviceOf(d.ctrl).events.outstanding, { "controller reset": 0, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["commands in flight", (d) => deviceOf(d.ctrl).inflight.size, { "controller reset": 0, "NVM subsystem reset": 0, "PCI reset / reboot": 0, "power cycle": 0 }],
  ["INTx line", (d) => d.host.level, { "controller reset": false, "NVM subsystem reset": false, "PCI reset / reboot": false, "power cycle": false }],
  ["error log entries", (d) => deviceOf(d.ctrl).errors.count, { "controller reset": (b) => b.errors, "NVM subsystem reset": (b) => b.errors, "PCI reset / reboot": (b) => b.errors, "power cycle": 0 }],
  ["SMART host writes", (d) => deviceOf(d.ctrl).health.hostWrites, { "controller reset": (b) => b.hostWrites, "NVM subsystem reset": (b) => b.hostWrites, "PCI reset / reboot": (b) => b.hostWrites, "power cycle": 0 }],
  ["SMART power cycles", (d) => deviceOf(d.ctrl).health.powerCycles, { "controller reset": (b) => b.powerCycles, "NVM subsystem reset": (b) => b.powerCycles, "PCI reset / reboot": (b) => b.powerCycles + 1, "power cycle": 1 }],
];

async function afterReset(kind: Reset): Promise<[HostDriver, Before]> {
  const d = await busy();
  const dev = deviceOf(d.ctrl);
  const before: Before = {
    cc: d.reg(R.REG_CC), aqa: d.reg(R.REG_AQA), asq: d.reg(R.REG_ASQ), acq: d.reg(R.REG_ACQ),
    errors: dev.errors.count, powerCycles: dev.health.powerCycles, hostWrites: dev.health.hostWrites,
    cap: [d.reg(R.REG_CAP), d.reg(R.REG_CAP + 4)],
  };
  expect(before.errors).toBeGreaterThan(0);
  expect(dev.events.outstanding).toBe(1);
  expect(d.reg(R.REG_INTMS)).toBe(1);
  switch (kind) {
    case "controller reset": d.setReg(R.REG_CC, before.cc & ~R.CC_EN); return [d, before];
    case "NVM subsystem reset": d.setReg(R.REG_NSSR, R.NSSR_RESET_VALUE); return [d, before];
    case "PCI reset / reboot": d.ctrl.reset(); return [d, before];
    case "power cycle": return [await make(), before];
  }
}

describe("reset rules: register x kind of reset -> value after it", () => {
  for (const kind of RESETS) {
    it(kind, async () => {
      const [d, before] = await afterReset(kind);
      const got: Record<string, unknown> = {};
      const want: Record<string, unknown> = {};
      for (const [name, read, expected] of ROWS) {
        const e = expected[kind];
        got[name] = read(d);
        want[name] = typeof e === "function" ? e(before) >>> 0 : e;
      }
      expect(got).toEqual(want);
    });
  }

  it("a driver that masked INTx and disabled the controller leaves the next one its interrupts", async () => {
    const d = await make();
    await d.bringUp();
    d.setReg(R.REG_INTMS, 1);
    d.disable();
    await d.bringUp();
    d.submit(0, { opcode: O.ADMIN_IDENTIFY, cdw10: 1, prp1: d.mem.alloc(4096) });
    expect(d.host.level).toBe(true);
  });
});
