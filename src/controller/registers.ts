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
    this.capHi = R.CAP_HI_NSSRS | R.CAP_HI_CSS_NVM | (0 << R.CAP_HI_MPSMIN_SHIFT) | (MPS_MAX << R.CAP_HI_MPSMAX_SHIFT);
  }

  get enabled(): boolean {
    return (this.csts & R.CSTS_RDY) !== 0;
  }

  get pageSize(): number {
    return 4096 << ((this.cc >>> R.CC_MPS_SHIFT) & 0xf);
  }

  get ioSqEntryShift(): number {
    return (this.cc >>> R.CC_IOSQES_SHIFT) & 0xf;
  }

  get ioCqEntryShift(): number {
    return (this.cc >>> R.CC_IOCQES_SHIFT) & 0xf;
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
      case R.REG_ASQ: if (!this.enabled) this.asqLo = v & ~0xfff; break;
      case R.REG_ASQ + 4: if (!this.enabled) this.asqHi = v; break;
      case R.REG_ACQ: if (!this.enabled) this.acqLo = v & ~0xfff; break;
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
      this.intms = 0; // a controller reset unmasks the pin interrupt (INTMS/INTMC back to 0)
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

  private subsystemReset(): void {
    this.hooks.reset();
    this.cc = 0;
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

  restore(s: RegisterState): void {
    for (const k of REGISTER_KEYS) {
      if (!Number.isInteger(s[k])) throw new Error(`nvme: snapshot lacks register ${k}`);
      this[k] = s[k] >>> 0;
    }
  }
}
