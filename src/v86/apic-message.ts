// Delivers an MSI/MSI-X message (a dword write to 0xFEExxxxx) to v86's local APIC: v86 decodes
// no MSI itself, but its IOAPIC delivers by setting the vector's IRR bit (TMR bit for level) in
// the APIC struct and its main loop takes the highest pending vector at handle_irqs(). This does
// the same from outside.
//
// v86 facts this relies on (src/rust/cpu/apic.rs, cpu.rs, cpu.js; 0.5.462):
// - get_apic_addr() (wasm export) is the address of the #[repr(C)] Apic struct in wasm memory;
//   its layout is pinned by offset_of! asserts because cpu.js saves and restores those 184 bytes
//   raw (get_state_apic/set_state_apic): dword 0 apic_id (ID in bits 31:24), 16..23 irr, 24..31
//   isr, 32..39 tmr, 40 spurious vector register, 41 DFR (stored | 0xffffff), 42 LDR.
// - apic::deliver() for a Fixed or Lowest Priority message: nothing if the IRR bit is already
//   set, else set it and set/clear the TMR bit; apic::route() ignores the destination (one CPU).
// - handle_irqs() (wasm export, cpu.handle_irqs) consults the APIC only with ACPI on
//   (settings.acpi: CPUID then reports an APIC and IA32_APIC_BASE holds 0xFEE00000); without it
//   the guest sees no APIC and never enables MSI-X. It delivers at once when IF is set, so like
//   an INTx raise (intx.ts) it is not called inside an MMIO handler: the IRR bit set there is
//   taken at the next sti/iret/popf or main-loop round.
// - The APIC is a Rust Mutex whose lock is only held inside its own functions, none of which
//   calls out to JS devices: writing its memory from device code never races a holder.

import type { V86Cpu } from "./v86-types.ts";

const APIC_DWORDS = 46;
const A_ID = 0;
const A_IRR = 16;
const A_TMR = 32;
const A_SVR = 40;
const A_DFR = 41;
const A_LDR = 42;
const SVR_APIC_ENABLED = 1 << 8;

export const MSI_ADDRESS_BASE = 0xfee00000;

/** The v86 exports delivery needs, or undefined when this build lacks them (older v86: JS APIC). */
export interface ApicAccess {
  cpu: V86Cpu & { get_apic_addr(): number; handle_irqs(): void; acpi_enabled: { readonly [i: number]: number } };
}

export function apicAccess(cpu: V86Cpu): ApicAccess | undefined {
  const c = cpu as Partial<ApicAccess["cpu"]>;
  if (typeof c.get_apic_addr !== "function" || typeof c.handle_irqs !== "function" || !c.acpi_enabled) return undefined;
  return { cpu: c as ApicAccess["cpu"] };
}

/** What became of one message. */
export type MessageOutcome = "delivered" | "coalesced" | "no-apic" | "not-apic-address" | "no-destination" | "unsupported-mode";

/** Whether the single local APIC accepts a message with this destination (Intel SDM vol. 3, 10.6.2). */
export function destinationMatches(apic: Uint32Array, dest: number, logical: boolean): boolean {
  if (!logical) return dest === 0xff || dest === apic[A_ID] >>> 24;
  const ldr = apic[A_LDR] >>> 24;
  if ((apic[A_DFR] >>> 28) === 0xf) return (dest & ldr) !== 0; // flat model
  // Cluster model: upper nibble selects the cluster (0xf: all), lower nibble the members.
  const cluster = dest >>> 4;
  return (cluster === 0xf || cluster === ldr >>> 4) && (dest & ldr & 0xf) !== 0;
}

/**
 * Sets the message's vector pending in the APIC (edge: TMR bit cleared) and, outside MMIO
 * handlers, lets v86 take it now. Dropped as hardware would: a message to an address outside
 * 0xFEExxxxx (a memory write no APIC sees; not performed), to nobody, to a disabled APIC, or
 * with a delivery mode other than Fixed/Lowest Priority (v86 implements no SMI, NMI, INIT or
 * ExtINT delivery), or with a vector below 16 (reserved: an APIC reports it as an error).
 */
export function deliverMessage(access: ApicAccess, addrLo: number, addrHi: number, data: number, inMmio: boolean): MessageOutcome {
  const cpu = access.cpu;
  if (addrHi !== 0 || ((addrLo >>> 20) << 20) >>> 0 !== MSI_ADDRESS_BASE) return "not-apic-address";
  if (!cpu.acpi_enabled[0]) return "no-apic";
  const apic = new Uint32Array(cpu.wasm_memory.buffer, cpu.get_apic_addr(), APIC_DWORDS);
  if (!(apic[A_SVR] & SVR_APIC_ENABLED)) return "no-apic";
  const mode = (data >>> 8) & 7;
  const vector = data & 0xff;
  if ((mode !== 0 && mode !== 1) || vector < 16) return "unsupported-mode";
  if (!destinationMatches(apic, (addrLo >>> 12) & 0xff, (addrLo & 4) !== 0)) return "no-destination";
  const word = vector >>> 5;
  const bit = 1 << (vector & 31);
  if (apic[A_IRR + word] & bit) return "coalesced";
  apic[A_IRR + word] |= bit;
  apic[A_TMR + word] &= ~bit;
  if (!inMmio) cpu.handle_irqs();
  return "delivered";
}
