// The controller register file (BAR0 below the doorbells): what each register reads back and
// what a write changes. State transitions (enable, reset, shutdown) are the controller's, reached
// through RegisterHooks, so this file holds values and the rules for them only.

import * as R from "../spec/registers.ts";
import type { ControllerConfig } from "../state/options.ts";

export interface RegisterHooks {
  /** CC.EN went 0 -> 1 with the other registers as they are; false when they cannot work. */
  enable(): boolean;
  /** CC.EN went 1 -> 0, or NVM Subsystem Reset: forget every queue and guest address. */
  reset(): void;
  /** CC.SHN became non-zero: flush, then call shutdownDone(). */
  shutdown(): void;
  /** INTMS/INTMC changed the interrupt mask. */
  maskChanged(masked: boolean): void;
}

export const MPS_MAX = 4; // 64 KiB pages

/** CC asks for what this controller lacks: command sets other than NVM or all I/O ones, an arbitration but round robin, or pages over MPS_MAX. */
export function ccUnsupported(cc: number): boolean {
  const css = (cc >>> R.CC_CSS_SHIFT) & R.CC_CSS_MASK;
  return (css !== R.CC_CSS_NVM && css !== R.CC_CSS_IOCS)
    || ((cc >>> R.CC_AMS_SHIFT) & R.CC_AMS_MASK) !== 0
    || ((cc >>> R.CC_MPS_SHIFT) & R.CC_MPS_MASK) > MPS_MAX;
}

const REGISTER_KEYS = ["cc", "csts", "aqa", "asqLo", "asqHi", "acqLo", "acqHi", "intms"] as const;
export type RegisterState = Record<(typeof REGISTER_KEYS)[number], number>;

export class Registers {
  cc = 0;
  csts = 0;
  aqa = 0;
  asqLo = 0;
  asqHi = 0;
  acqLo = 0;
  acqHi = 0;
  intms = 0;
  readonly capLo: number;
  readonly capHi: number;

  constructor(cfg: ControllerConfig, private readonly hooks: RegisterHooks) {
    const timeout = 20; // CAP.TO in 500 ms units: how long a host waits for RDY
    this.capLo = ((cfg.mqes - 1) & R.CAP_MQES_MASK) | R.CAP_CQR | (timeout << R.CAP_TO_SHIFT);
    this.capHi = R.CAP_HI_NSSRS | R.CAP_HI_CSS_NVM | R.CAP_HI_CSS_IOCS | (0 << R.CAP_HI_MPSMIN_SHIFT) | (MPS_MAX << R.CAP_HI_MPSMAX_SHIFT);
  }

  get enabled(): boolean {
    return (this.csts & R.CSTS_RDY) !== 0;
  }

  /**
   * Enabled and no shutdown asked for: the device polls its queues and shadow pages on its own
   * (timer ticks). After a shutdown notification it waits for a reset: a host may free that
   * memory once CSTS.SHST says complete, as Linux does when its driver unbinds.
   */
  get serving(): boolean {
    return this.enabled && ((this.cc >>> R.CC_SHN_SHIFT) & 3) === R.SHN_NONE;
  }

  get pageSize(): number {
    return 4096 << ((this.cc >>> R.CC_MPS_SHIFT) & R.CC_MPS_MASK);
  }

  get ioSqEntryShift(): number {
    return (this.cc >>> R.CC_IOSQES_SHIFT) & R.CC_QES_MASK;
  }

  get ioCqEntryShift(): number {
    return (this.cc >>> R.CC_IOCQES_SHIFT) & R.CC_QES_MASK;
  }

  /** Admin queue sizes in entries (AQA holds 0's based values). */
  get adminSqSize(): number {
    return (this.aqa & R.AQA_ASQS_MASK) + 1;
  }

  get adminCqSize(): number {
    return ((this.aqa >>> R.AQA_ACQS_SHIFT) & R.AQA_ASQS_MASK) + 1;
  }

  read(off: number): number {
    switch (off) {
      case R.REG_CAP: return this.capLo;
      case R.REG_CAP + 4: return this.capHi;
      case R.REG_VS: return R.VS_1_4;
      case R.REG_INTMS:
      case R.REG_INTMC: return this.intms;
      case R.REG_CC: return this.cc;
      case R.REG_CSTS: return this.csts;
      case R.REG_NSSR: return 0;
      case R.REG_AQA: return this.aqa;
      case R.REG_ASQ: return this.asqLo;
      case R.REG_ASQ + 4: return this.asqHi;
      case R.REG_ACQ: return this.acqLo;
      case R.REG_ACQ + 4: return this.acqHi;
      default: return 0;
    }
  }

  write(off: number, v: number): void {
    v >>>= 0;
    switch (off) {
      case R.REG_INTMS: this.setMask(this.intms | (v & 1)); break;
      case R.REG_INTMC: this.setMask(this.intms & ~(v & 1)); break;
      case R.REG_CC: this.writeCc(v); break;
      case R.REG_CSTS: if (v & R.CSTS_NSSRO) this.csts &= ~R.CSTS_NSSRO; break; // RW1C
      case R.REG_NSSR: if (v === R.NSSR_RESET_VALUE) this.subsystemReset(); break;
      // The admin queue registers only take effect at enable; while enabled they are frozen.
      case R.REG_AQA: if (!this.enabled) this.aqa = v & 0x0fff0fff; break;
      case R.REG_ASQ: if (!this.enabled) this.asqLo = (v & ~0xfff) >>> 0; break;
      case R.REG_ASQ + 4: if (!this.enabled) this.asqHi = v; break;
      case R.REG_ACQ: if (!this.enabled) this.acqLo = (v & ~0xfff) >>> 0; break;
      case R.REG_ACQ + 4: if (!this.enabled) this.acqHi = v; break;
      default: break; // read-only or reserved
    }
  }

  private setMask(m: number): void {
    if (m === this.intms) return;
    this.intms = m;
    this.hooks.maskChanged((m & 1) !== 0);
  }

  private writeCc(v: number): void {
    const wasEn = (this.cc & R.CC_EN) !== 0;
    const en = (v & R.CC_EN) !== 0;
    const oldShn = (this.cc >>> R.CC_SHN_SHIFT) & 3;
    // While enabled only EN and SHN may change; other fields keep what enable saw.
    const fixed = wasEn && en ? (this.cc & ~(3 << R.CC_SHN_SHIFT)) | (v & (3 << R.CC_SHN_SHIFT)) : v;
    this.cc = fixed & 0x00fffff1;
    if (!wasEn && en) {
      this.csts &= ~(R.CSTS_CFS | (3 << R.CSTS_SHST_SHIFT));
      if (this.hooks.enable()) this.csts |= R.CSTS_RDY;
      else this.csts |= R.CSTS_CFS; // an impossible configuration: fatal, as the host can see
    } else if (wasEn && !en) {
      // Controller reset: every property but AQA, ASQ and ACQ returns to its reset value (CC
      // keeps what the host just wrote). INTMS too: a driver that masked INTx and disabled the
      // controller must not leave the next one without interrupts.
      this.intms = 0;
      this.hooks.reset();
      this.csts &= ~(R.CSTS_RDY | R.CSTS_CFS | (3 << R.CSTS_SHST_SHIFT));
    }
    const shn = (this.cc >>> R.CC_SHN_SHIFT) & 3;
    if (shn !== R.SHN_NONE && oldShn === R.SHN_NONE) {
      this.csts = (this.csts & ~(3 << R.CSTS_SHST_SHIFT)) | (R.SHST_OCCURRING << R.CSTS_SHST_SHIFT);
      this.hooks.shutdown();
    }
  }

  shutdownDone(): void {
    this.csts = (this.csts & ~(3 << R.CSTS_SHST_SHIFT)) | (R.SHST_COMPLETE << R.CSTS_SHST_SHIFT);
  }

  /** NVM Subsystem Reset: the function sees a link reset, so every register to its reset value, NSSRO set. */
  private subsystemReset(): void {
    this.powerOn();
    this.hooks.reset();
    this.csts = R.CSTS_NSSRO;
  }

  /** Power-on values (a machine reset). */
  powerOn(): void {
    this.cc = this.csts = this.aqa = this.asqLo = this.asqHi = this.acqLo = this.acqHi = this.intms = 0;
  }

  save(): RegisterState {
    const { cc, csts, aqa, asqLo, asqHi, acqLo, acqHi, intms } = this;
    return { cc, csts, aqa, asqLo, asqHi, acqLo, acqHi, intms };
  }

  /** Takes registers checked with checkRegisters. */
  restore(s: RegisterState): void {
    for (const k of REGISTER_KEYS) this[k] = s[k];
  }
}

const CSTS_BITS = R.CSTS_RDY | R.CSTS_CFS | (3 << R.CSTS_SHST_SHIFT) | R.CSTS_NSSRO;

/**
 * Saved registers as the guest could have left them: each a 32-bit value with no reserved bit
 * set, a mask of 0 or 1, admin queue addresses and sizes as AQA/ASQ/ACQ keep them, and a ready
 * controller enabled with a configuration enable accepts. Throws naming the first bad one.
 */
export function checkRegisters(s: unknown): RegisterState {
  if (!s || typeof s !== "object") throw new Error("registers missing");
  const r = s as Record<string, unknown>;
  const out = {} as RegisterState;
  for (const k of REGISTER_KEYS) {
    const v = r[k];
    // Older snapshots kept ASQ/ACQ low halves as signed 32-bit numbers.
    if (typeof v !== "number" || !Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) throw new Error(`register ${k} is ${String(v)}`);
    out[k] = v >>> 0;
  }
  const bad = (k: string) => new Error(`register ${k} 0x${out[k as keyof RegisterState].toString(16)} holds a value the guest cannot set`);
  if (out.cc & ~0x00fffff1) throw bad("cc");
  if (out.csts & ~CSTS_BITS || ((out.csts >>> R.CSTS_SHST_SHIFT) & 3) === 3) throw bad("csts");
  if (out.intms > 1) throw bad("intms");
  if (out.aqa & ~0x0fff0fff) throw bad("aqa");
  if (out.asqLo & 0xfff) throw bad("asqLo");
  if (out.acqLo & 0xfff) throw bad("acqLo");
  const ready = (out.csts & R.CSTS_RDY) !== 0;
  const en = (out.cc & R.CC_EN) !== 0;
  if (ready && (!en || (out.csts & R.CSTS_CFS) || ccUnsupported(out.cc))) throw bad("csts");
  return out;
}
