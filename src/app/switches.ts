// The device switches: shadow doorbell policy and interrupt coalescing, changed while the guest
// runs (each change marked on the charts), and the fio workloads menu that sends its command.

import type { DoorbellPolicy, NvmeV86 } from "../index.ts";
import type { DemoState, NvmeDemo } from "./demo-api.ts";
import { ui } from "./elements.ts";

const POLICY_KEY = "v86-nvme.doorbellPolicy";
/**
 * Interrupt Coalescing when on: 8 completions (0's based 7) or 2 ms (20 units of 100 µs). The
 * device looks at its interrupt line once per round of work (its timer runs at about 1 kHz), so
 * an aggregation time much under a round's length (say 100 µs) changes nothing there.
 */
const COALESCE_ON = { threshold: 7, time: 20 };

const WORKLOADS: { label: string; cmd: string }[] = (() => {
  const fio = (name: string, args: string) =>
    `fio --name=${name} --filename=/root/fio.dat --size=16M ${args} --ioengine=libaio --direct=1 --time_based --runtime=30 --eta=never`;
  return [
    { label: "4 KiB random read, QD 32", cmd: fio("randread-qd32", "--rw=randread --bs=4k --iodepth=32") },
    { label: "4 KiB random read, QD 1", cmd: fio("randread-qd1", "--rw=randread --bs=4k --iodepth=1") },
    { label: "4 KiB random write, QD 32", cmd: fio("randwrite-qd32", "--rw=randwrite --bs=4k --iodepth=32") },
    { label: "1 MiB sequential read, QD 4", cmd: fio("seqread", "--rw=read --bs=1M --iodepth=4") },
  ];
})();

/** The policy last chosen on this page: a new machine starts with it. */
export function storedPolicy(): DoorbellPolicy {
  try {
    return localStorage.getItem(POLICY_KEY) === "eager" ? "eager" : "awake";
  } catch {
    return "awake";
  }
}

/** Shows the controller's actual settings (a guest's controller reset turns coalescing off). */
export function showDevice(d: ReturnType<NvmeDemo["device"]>): void {
  if (!d) return;
  ui.policyAwake.checked = d.policy === "awake";
  ui.policyEager.checked = d.policy === "eager";
  const on = d.coalescing.threshold !== 0 || d.coalescing.time !== 0;
  ui.coalescingOn.checked = on;
  ui.coalescingOff.checked = !on;
}

/** Switches need a controller; workloads also a shell, which only a running guest has. */
export function enableSwitches(p: { attached: boolean; state: DemoState; busy: boolean }): void {
  const running = p.state === "running" || p.state === "booting";
  const device = p.attached && running && !p.busy;
  for (const e of [ui.policyAwake, ui.policyEager, ui.coalescingOff, ui.coalescingOn]) e.disabled = !device;
  ui.workloadRun.disabled = ui.workloadStop.disabled = !(p.attached && p.state === "running" && !p.busy);
}

/** Wires the switches to the controller of the moment, `mark` labels the charts, `send` types into the guest. */
export function listenSwitches(page: {
  controller(): NvmeV86["controller"] | undefined;
  mark(label: string): void;
  send(text: string): void;
}): void {
  ui.policyAwake.checked = storedPolicy() === "awake";
  ui.policyEager.checked = storedPolicy() === "eager";
  for (const input of [ui.policyAwake, ui.policyEager]) {
    input.addEventListener("change", () => {
      const c = page.controller();
      if (!c || !input.checked) return;
      const policy = input.value as DoorbellPolicy;
      c.setDoorbellPolicy(policy);
      try {
        localStorage.setItem(POLICY_KEY, policy);
      } catch {
        // not remembered
      }
      page.mark(policy);
    });
  }
  for (const input of [ui.coalescingOff, ui.coalescingOn]) {
    input.addEventListener("change", () => {
      const c = page.controller();
      if (!c || !input.checked) return;
      const on = input.value === "on";
      c.setInterruptCoalescing(on ? COALESCE_ON.threshold : 0, on ? COALESCE_ON.time : 0);
      page.mark(on ? "coalescing" : "no coalescing");
    });
  }

  for (const w of WORKLOADS) {
    const opt = document.createElement("option");
    opt.textContent = w.label;
    opt.value = w.cmd;
    opt.title = w.cmd;
    ui.workload.append(opt);
  }
  ui.workloadRun.addEventListener("click", () => page.send(`${ui.workload.value}\n`));
  ui.workloadStop.addEventListener("click", () => page.send("\x03"));
}
