// End-to-end protection information of a block command on a namespace formatted with it: the
// command's PRINFO and tag fields, the checks PRCHK asks for (Guard, Application Tag, Reference
// Tag, in that order, block by block) and the PI that PRACT makes the controller generate.

import type { Command } from "../command.ts";
import type { Namespace } from "../state/namespace.ts";
import * as P from "../spec/protection.ts";
import { APP_TAG_CHECK_ERROR, GUARD_CHECK_ERROR, INVALID_PROTECTION_INFO, REF_TAG_CHECK_ERROR, SUCCESS, type Status } from "../spec/status.ts";

export interface PiFields {
  readonly pract: boolean;
  readonly guard: boolean;
  readonly app: boolean;
  readonly ref: boolean;
  /** ILBRT (CDW14): the Reference Tag of the first block. */
  readonly ilbrt: number;
  /** LBAT and LBATM (CDW15): the expected Application Tag and which of its bits are checked. */
  readonly lbat: number;
  readonly lbatm: number;
}

export function piFields(cmd: Command): PiFields {
  const c = cmd.cdw12;
  return {
    pract: (c & P.PRACT) !== 0, guard: (c & P.PRCHK_GUARD) !== 0, app: (c & P.PRCHK_APP) !== 0, ref: (c & P.PRCHK_REF) !== 0,
    ilbrt: cmd.cdw14 >>> 0, lbat: cmd.cdw15 & 0xffff, lbatm: cmd.cdw15 >>> P.LBATM_SHIFT,
  };
}

/** Type 1 checks the Reference Tag against the LBA itself: ILBRT must be the SLBA's low 32 bits. */
export function prinfoValid(ns: Namespace, f: PiFields, slba: number): Status {
  return ns.protection.pi === P.PI_TYPE1 && f.ref && f.ilbrt !== slba % 2 ** 32 ? INVALID_PROTECTION_INFO : SUCCESS;
}

/** Where the PI sits in each block's metadata. */
const piOffset = (ns: Namespace) => (ns.protection.piFirst ? 0 : ns.metaSize - P.PI_SIZE);

/** The Guard of block `i`: CRC over its data and, with the PI last, the metadata before it. */
function guardOf(ns: Namespace, data: Uint8Array, meta: Uint8Array, i: number): number {
  const crc = P.crc16T10Dif(data.subarray(i * ns.blockSize, (i + 1) * ns.blockSize));
  const at = i * ns.metaSize;
  return ns.protection.piFirst ? crc : P.crc16T10Dif(meta.subarray(at, at + piOffset(ns)), crc);
}

/** The Reference Tag block `i` of the command should carry: ILBRT, counting up per block for types 1 and 2. */
const refTagOf = (ns: Namespace, f: PiFields, i: number) => (ns.protection.pi === P.PI_TYPE3 ? f.ilbrt : (f.ilbrt + i) % 2 ** 32);

/** Whether PRCHK asks for any check. */
export const checks = (f: PiFields) => f.guard || f.app || f.ref;

/**
 * Checks the PI of `nlb` blocks (`data` and their `meta`) as PRCHK asks; the first error found.
 * `first`: the command's index of the first of them (a command checked in pieces).
 */
export function checkPi(ns: Namespace, f: PiFields, data: Uint8Array, meta: Uint8Array, nlb: number, first = 0): Status {
  if (!checks(f)) return SUCCESS;
  const dv = new DataView(meta.buffer, meta.byteOffset, meta.byteLength);
  const type3 = ns.protection.pi === P.PI_TYPE3;
  for (let i = 0; i < nlb; i++) {
    const at = i * ns.metaSize + piOffset(ns);
    const app = dv.getUint16(at + P.PI_APP_TAG);
    const ref = dv.getUint32(at + P.PI_REF_TAG);
    // Escape values: the block's PI is not checked (unwritten blocks read so).
    if (app === P.APP_TAG_ESCAPE && (!type3 || ref === P.REF_TAG_ESCAPE)) continue;
    if (f.guard && dv.getUint16(at + P.PI_GUARD) !== guardOf(ns, data, meta, i)) return GUARD_CHECK_ERROR;
    if (f.app && ((app ^ f.lbat) & f.lbatm) !== 0) return APP_TAG_CHECK_ERROR;
    if (f.ref && ref !== refTagOf(ns, f, first + i)) return REF_TAG_CHECK_ERROR;
  }
  return SUCCESS;
}

/**
 * PRACT on a write: the controller writes the PI of each block into `meta` (Guard, LBAT, Reference
 * Tag). `data` undefined: blocks of zeros with zeroed metadata (Write Zeroes), whose Guard is 0.
 */
export function generatePi(ns: Namespace, f: PiFields, data: Uint8Array | undefined, meta: Uint8Array, nlb: number): void {
  const dv = new DataView(meta.buffer, meta.byteOffset, meta.byteLength);
  for (let i = 0; i < nlb; i++) {
    const at = i * ns.metaSize + piOffset(ns);
    dv.setUint16(at + P.PI_GUARD, data ? guardOf(ns, data, meta, i) : 0);
    dv.setUint16(at + P.PI_APP_TAG, f.lbat);
    dv.setUint32(at + P.PI_REF_TAG, refTagOf(ns, f, i));
  }
}
