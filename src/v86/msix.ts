// The function's MSI-X table and pending bit array (in BAR0) and its messages. All CQs use
// vector 0 (Create I/O CQ takes no other), so the controller's one interrupt becomes a message
// on vector 0 while the guest has MSI-X enabled, and INTx stays low meanwhile (PCI forbids both).
//
// Messages are edges where INTx is a level: one is sent when the level rises and again whenever
// completions are posted while it is high (ControllerHost.pulse), so an entry posted after the
// guest's handler looked at its CQ still interrupts. A masked vector (its Vector Control bit, or
// Function Mask) gets its pending bit set instead, and the message goes once it is unmasked.
// Message Control lives in v86's copy of config space and the device is not told of writes to
// it: unmasking there is noticed at the next signal, table access or timer hook (poll()).

import {
  MSIX_CAP_OFFSET, MSIX_ENTRY_SIZE, MSIX_FLAGS_ENABLE, MSIX_FLAGS_MASKALL, MSIX_PBA_OFFSET, MSIX_TABLE_OFFSET,
  MSIX_VECTOR_MASKED, msixControl,
} from "../pci/msix-capability.ts";
import { deliverMessage } from "./apic-message.ts";
import type { ApicAccess, MessageOutcome } from "./apic-message.ts";

export interface MsixCounters {
  messages: number;
  /** Messages that found the vector already pending in the APIC. */
  coalesced: number;
  /** Signals held as a pending bit (vector or function masked). */
  held: number;
  /** Messages no APIC took (see deliverMessage). */
  dropped: number;
}

export interface MsixState {
  table: number[];
  pending: number[];
}

export class MsixVectors {
  readonly table: Uint32Array;
  readonly pending: Uint32Array;
  readonly counters: MsixCounters = { messages: 0, coalesced: 0, held: 0, dropped: 0 };
  private anyPending = false;
  private readonly warned = new Set<MessageOutcome>();

  constructor(
    private readonly apic: ApicAccess,
    private readonly space: Int32Array,
    readonly vectors: number,
    private readonly inMmio: () => boolean,
    private readonly log: (msg: string) => void,
  ) {
    this.table = new Uint32Array(vectors * 4);
    this.pending = new Uint32Array(Math.ceil(vectors / 32));
    this.reset();
  }

  /** MSI-X Enable in Message Control, as the guest last wrote it. */
  enabled(): boolean {
    return (msixControl(this.space) & MSIX_FLAGS_ENABLE) !== 0;
  }

  /** Whether a BAR0 offset falls in the table or the PBA (the controller never sees those). */
  covers(off: number): boolean {
    return (off >= MSIX_TABLE_OFFSET && off < MSIX_TABLE_OFFSET + this.vectors * MSIX_ENTRY_SIZE) ||
      (off >= MSIX_PBA_OFFSET && off < MSIX_PBA_OFFSET + this.pending.length * 8);
  }

  read32(off: number): number {
    if (off >= MSIX_PBA_OFFSET) {
      const i = (off - MSIX_PBA_OFFSET) >>> 2;
      return i < this.pending.length ? this.pending[i] | 0 : 0;
    }
    return this.table[(off - MSIX_TABLE_OFFSET) >>> 2] | 0;
  }

  write32(off: number, value: number): void {
    if (off >= MSIX_PBA_OFFSET) return; // read only
    const i = (off - MSIX_TABLE_OFFSET) >>> 2;
    // Vector Control: only the mask bit is writable; Message Address: dword aligned.
    if ((i & 3) === 3) this.table[i] = value & MSIX_VECTOR_MASKED;
    else if ((i & 3) === 0) this.table[i] = value & ~3;
    else this.table[i] = value >>> 0;
    if ((i & 3) === 3) this.poll();
  }

  private masked(v: number): boolean {
    return (msixControl(this.space) & MSIX_FLAGS_MASKALL) !== 0 || (this.table[v * 4 + 3] & MSIX_VECTOR_MASKED) !== 0;
  }

  /** Sends vector `v`'s message, or holds it as pending while masked. */
  signal(v: number): void {
    if (!this.enabled() || v >= this.vectors) return;
    if (this.masked(v)) {
      this.pending[v >>> 5] |= 1 << (v & 31);
      this.anyPending = true;
      this.counters.held++;
      return;
    }
    this.send(v);
  }

  /** Sends what was held for vectors unmasked since. */
  poll(): void {
    if (!this.anyPending || !this.enabled()) return;
    let left = false;
    for (let v = 0; v < this.vectors; v++) {
      const bit = 1 << (v & 31);
      if (!(this.pending[v >>> 5] & bit)) continue;
      if (this.masked(v)) {
        left = true;
        continue;
      }
      this.pending[v >>> 5] &= ~bit;
      this.send(v);
    }
    this.anyPending = left;
  }

  private send(v: number): void {
    const e = v * 4;
    const outcome = deliverMessage(this.apic, this.table[e], this.table[e + 1], this.table[e + 2], this.inMmio());
    if (outcome === "delivered") this.counters.messages++;
    else if (outcome === "coalesced") this.counters.coalesced++;
    else {
      this.counters.dropped++;
      if (!this.warned.has(outcome)) {
        this.warned.add(outcome);
        this.log(`MSI-X vector ${v} (address 0x${this.table[e + 1].toString(16)}_${this.table[e].toString(16)}, data 0x${this.table[e + 2].toString(16)}) dropped: ${outcome}`);
      }
    }
  }

  /** Function reset values: every vector masked, nothing pending. */
  reset(): void {
    this.table.fill(0);
    for (let v = 0; v < this.vectors; v++) this.table[v * 4 + 3] = MSIX_VECTOR_MASKED;
    this.pending.fill(0);
    this.anyPending = false;
  }

  /** Machine reset: also Message Control's Enable and Function Mask (v86 keeps config space). */
  functionReset(): void {
    this.reset();
    this.space[MSIX_CAP_OFFSET >> 2] &= ~((MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL) << 16);
  }

  saveState(): MsixState {
    return { table: Array.from(this.table), pending: Array.from(this.pending) };
  }

  /** A state file is input: anything not shaped like this function's table resets it. */
  restoreState(saved: unknown): void {
    this.reset();
    const s = saved as Partial<MsixState> | undefined;
    const ok = (a: unknown, n: number): a is number[] =>
      Array.isArray(a) && a.length === n && a.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff);
    if (!s || !ok(s.table, this.table.length) || !ok(s.pending, this.pending.length)) {
      if (saved !== undefined) this.log("state file: MSI-X table missing or malformed; vectors reset (masked)");
      return;
    }
    this.table.set(s.table);
    for (let v = 0; v < this.vectors; v++) this.table[v * 4 + 3] &= MSIX_VECTOR_MASKED;
    this.pending.set(s.pending);
    if (this.vectors % 32) this.pending[this.pending.length - 1] &= (1 << (this.vectors % 32)) - 1;
    this.anyPending = this.pending.some((w) => w !== 0);
  }
}
