// End-to-end data protection (NVM command set "End-to-end Data Protection"): the 8-byte protection
// information (PI) tuple, the PRINFO and tag fields of I/O commands, the Identify Namespace MC, DPC
// and DPS bits and the Format NVM fields that choose them, and the T10-DIF CRC16 the Guard holds.
// Definitions only.

/** Bytes of one PI tuple: Guard (u16), Application Tag (u16), Reference Tag (u32), big-endian. */
export const PI_SIZE = 8;
export const PI_GUARD = 0;
export const PI_APP_TAG = 2;
export const PI_REF_TAG = 4;
/** An Application Tag of FFFFh turns every check off for the block (types 1, 2; type 3 also needs a Reference Tag of FFFFFFFFh). */
export const APP_TAG_ESCAPE = 0xffff;
export const REF_TAG_ESCAPE = 0xffffffff;

// Protection types (DPS bits 2:0, Format NVM PI)
export const PI_NONE = 0;
export const PI_TYPE1 = 1;
export const PI_TYPE2 = 2;
export const PI_TYPE3 = 3;

// CDW12 of Read, Write, Compare, Write Zeroes, Verify: PRINFO (bits 29:26)
export const PRCHK_REF = 1 << 26;
export const PRCHK_APP = 1 << 27;
export const PRCHK_GUARD = 1 << 28;
export const PRACT = 1 << 29;
/** CDW15: LBAT (bits 15:0), LBATM (bits 31:16). CDW14: ILBRT (the Reference Tag of the first block). */
export const LBATM_SHIFT = 16;

// Identify Namespace
export const MC_EXTENDED = 1 << 0; // metadata at the end of each block's data
export const MC_SEPARATE = 1 << 1; // metadata in a buffer of its own (MPTR)
export const DPC_TYPE1 = 1 << 0;
export const DPC_TYPE2 = 1 << 1;
export const DPC_TYPE3 = 1 << 2;
export const DPC_FIRST = 1 << 3; // PI may be the first 8 bytes of the metadata
export const DPC_LAST = 1 << 4; // or the last 8
export const DPS_TYPE_MASK = 0x7;
export const DPS_FIRST = 1 << 3;
export const FLBAS_EXTENDED = 1 << 4;

// Format NVM CDW10
export const FORMAT_MSET = 1 << 4; // metadata extended (1) or separate (0)
export const FORMAT_PI_SHIFT = 5; // bits 7:5
export const FORMAT_PIL = 1 << 8; // PI first (1) or last (0) in the metadata

/** CRC-16 T10-DIF (polynomial 8BB7h, initial value 0, no reflection), table-driven. */
const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? (c << 1) ^ 0x8bb7 : c << 1;
    t[i] = c & 0xffff;
  }
  return t;
})();

/** The CRC of `bytes` continuing from `crc` (0 to start). */
export function crc16T10Dif(bytes: Uint8Array, crc = 0): number {
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 8) ^ bytes[i]) & 0xff]) & 0xffff;
  return crc;
}
