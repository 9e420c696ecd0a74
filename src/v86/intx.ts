// The INTx line of the function: a level the controller sets, told to v86's PIC only on changes.
//
// v86 facts this relies on (src/pci.js, src/rust/cpu/pic.rs, src/rust/cpu/cpu.rs):
// - pci.raise_irq/lower_irq route through the PIIX3 PIRQ registers (ISA bridge 0x60..0x63,
//   index (pin-1 + slot-1) & 3). Before the BIOS programs them they read 0, and raising would
//   assert IRQ 0 (the timer): the line is only driven once the route names a usable IRQ.
// - SeaBIOS routes PIRQA..D to 10, 10, 11, 11 and sets ELCR bits 10 and 11 (level-triggered),
//   so slot 4 pin A is IRQ 11 in level mode: while the line is high the PIC re-requests the IRQ
//   after every EOI. In edge mode (ELCR bit clear) only a rising edge latches a request, hence
//   "lower when nothing is pending" matters either way.
// - device_raise_irq runs handle_irqs at once: with IF set it delivers the interrupt on the spot.
//   MMIO handlers run in the middle of an instruction, and in JIT-compiled code the registers
//   and EIP in memory are stale there (only `out`/`in` end a JIT block; a `mov` to MMIO does
//   not), so an interrupt delivered from inside an MMIO write would push a wrong return address.
//   A raise requested during MMIO while the guest has IF set is therefore deferred to the next
//   timer hook (run_hardware_timers, followed by handle_irqs in v86's main loop). With IF clear
//   the PIC only latches it; the guest takes it at its next sti/popf/iret. Lowering never
//   delivers an interrupt, so it is applied at once. Seen: with the raise applied inside the
//   doorbell write instead, Linux 6.1 oopsed within a minute of QD1 `dd iflag=direct` (a jump
//   to a garbage EIP under blk_mq_dispatch_rq_list). Deferral costs little at QD1: a waiting
//   guest idles in HLT, and v86's HLT runs the timer hook at once. Most raises are deferred
//   (the driver rings the SQ doorbell with interrupts enabled).
// - PCI command bit 10 (INTx Disable) is honoured; Status bit 3 (Interrupt Status) mirrors the
//   level the controller asks for.
// - The PIC and IOAPIC keep one level per IRQ, not one per device: whoever lowers an IRQ lowers it
//   for every device sharing it. On a real board the line is a wired OR. v86's virtio lowers its
//   IRQ on every read of its ISR, which Linux's handler does on every interrupt of the line it
//   shares with us (the balloon on IRQ 11), and two controllers may share one too. A completion
//   posted while the guest's handler runs would leave our line high and the PIC's low: no
//   interrupt again until the command timed out. So every line of ours hears each lower of its
//   IRQ and raises it again (wireOr below).

import { PCI_COMMAND_INTX_DISABLE, PCI_INTERRUPT_PIN, PCI_STATUS_INTERRUPT } from "../pci/config-space.ts";
import type { V86Cpu } from "./v86-types.ts";
import { FLAG_INTERRUPT } from "./v86-types.ts";

export interface IntxCounters {
  raises: number;
  lowers: number;
  deferred: number;
  unrouted: number;
  /** Times another device lowered our IRQ while we held it high, and we raised it again. */
  reasserted: number;
}

/** What a snapshot keeps of the line: the level asked for, and what the PIC was told on which IRQ. */
export interface IntxState {
  level: boolean;
  asserted: boolean;
  assertedIrq: number;
}

export class IntxLine {
  /** The level the controller asks for. */
  level = false;
  /** What the PIC was told, and on which IRQ. */
  asserted = false;
  assertedIrq = -1;
  /** True while an MMIO handler of this device runs (set by the MMIO layer). */
  inMmio = false;
  readonly counters: IntxCounters;
  private readonly cpu: V86Cpu;
  private readonly pciId: number;
  private readonly space: Int32Array;
  private readonly flagsOffset: number;
  private flagsView: Int32Array | undefined;

  constructor(cpu: V86Cpu, pciId: number, space: Int32Array, counters?: IntxCounters) {
    this.counters = counters ?? { raises: 0, lowers: 0, deferred: 0, unrouted: 0, reasserted: 0 };
    this.cpu = cpu;
    this.pciId = pciId;
    this.space = space;
    this.flagsOffset = cpu.flags.byteOffset;
    wireOr(cpu, this);
  }

  /** The IRQ the PIIX3 routes this function's pin to, or -1 while unrouted. */
  route(): number {
    const pin = (this.space[PCI_INTERRUPT_PIN >> 2] >> 8) & 0xff;
    if (pin < 1 || pin > 4) return -1;
    const irq = this.cpu.devices.pci.isa_bridge_space8[0x60 + ((pin - 1 + (this.pciId >> 3) - 1) & 3)];
    return irq > 2 && irq < 16 ? irq : -1; // bit 7 set = disabled; 0..2 are never PCI IRQs
  }

  private guestInterruptsEnabled(): boolean {
    const buf = this.cpu.wasm_memory.buffer;
    if (!this.flagsView || this.flagsView.buffer !== buf) this.flagsView = new Int32Array(buf, this.flagsOffset, 1);
    return (this.flagsView[0] & FLAG_INTERRUPT) !== 0;
  }

  /** The controller's setIrq. */
  set(level: boolean): void {
    this.level = level;
    const s = this.space;
    s[1] = level ? s[1] | (PCI_STATUS_INTERRUPT << 16) : s[1] & ~(PCI_STATUS_INTERRUPT << 16);
    if (level && !this.asserted && this.inMmio && this.guestInterruptsEnabled()) {
      this.counters.deferred++;
      return; // picked up by sync() from the timer hook
    }
    this.sync();
  }

  /** Brings the PIC in line with the requested level; safe only outside MMIO handlers or with IF clear. */
  sync(): void {
    const disabled = (this.space[1] & PCI_COMMAND_INTX_DISABLE) !== 0;
    const want = this.level && !disabled;
    if (want === this.asserted) return;
    if (want) {
      const irq = this.route();
      if (irq < 0) {
        this.counters.unrouted++;
        return;
      }
      this.asserted = true;
      this.assertedIrq = irq;
      this.counters.raises++;
      this.cpu.devices.pci.raise_irq(this.pciId);
    } else {
      this.drop();
    }
  }

  private drop(): void {
    const irq = this.assertedIrq;
    this.asserted = false;
    this.assertedIrq = -1;
    this.counters.lowers++;
    // The guest may have re-routed the pin since the raise: lower the IRQ that was raised.
    if (this.route() === irq) this.cpu.devices.pci.lower_irq(this.pciId);
    else this.cpu.device_lower_irq(irq);
  }

  /**
   * Someone lowered `irq` on the PIC (us, or another device on the same IRQ). Held high, the line
   * is raised again: at once with IF clear (the PIC only latches it), else by the next sync() from
   * the timer hook, as deferred raises are.
   */
  lowered(irq: number): void {
    if (!this.asserted || this.assertedIrq !== irq) return;
    this.asserted = false;
    this.assertedIrq = -1;
    this.counters.reasserted++;
    if (!this.guestInterruptsEnabled()) this.sync();
  }

  /** Machine reset: the line goes low. */
  reset(): void {
    this.level = false;
    this.space[1] &= ~(PCI_STATUS_INTERRUPT << 16);
    if (this.asserted) this.drop();
  }

  saveState(): IntxState {
    return { level: this.level, asserted: this.asserted, assertedIrq: this.assertedIrq };
  }

  /**
   * After v86 restored its PIC (which remembers the line), take back what it was told. Older
   * snapshots kept the same three values as a [level, asserted, irq] tuple.
   */
  restoreState(saved: IntxState | [boolean, boolean, number] | undefined): void {
    const s: Partial<IntxState> = Array.isArray(saved) ? { level: saved[0], asserted: saved[1], assertedIrq: saved[2] } : (saved ?? {});
    const irq = s.assertedIrq;
    // A state file is input: an IRQ no PCI line can have counts as not asserted.
    const valid = typeof irq === "number" && Number.isInteger(irq) && irq > 2 && irq < 16;
    this.level = !!s.level;
    this.asserted = !!s.asserted && valid;
    this.assertedIrq = this.asserted ? irq! : -1;
  }
}

const linesOf = new WeakMap<V86Cpu, Set<IntxLine>>();

/** Makes every lower of an IRQ through `cpu` heard by our lines (v86 looks the function up on the CPU at each call). */
function wireOr(cpu: V86Cpu, line: IntxLine): void {
  let lines = linesOf.get(cpu);
  if (!lines) {
    const own = cpu.device_lower_irq.bind(cpu);
    const all = new Set<IntxLine>();
    cpu.device_lower_irq = (irq: number) => {
      own(irq);
      for (const l of all) l.lowered(irq);
    };
    linesOf.set(cpu, (lines = all));
  }
  lines.add(line);
}
