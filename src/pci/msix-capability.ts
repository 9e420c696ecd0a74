// The MSI-X capability (PCI Local Bus 3.0, "MSI-X Capability and Table Structure"): where the
// function puts its table and pending bit array in BAR0 and how the guest's Message Control bits
// are read back. Offsets are fixed: the table sits after the doorbells of the 128 queue ids
// (0x1000..0x13ff), the PBA after the table, both inside the 16 KiB BAR0.

export const CAP_ID_MSIX = 0x11;
export const MSIX_CAP_OFFSET = 0x70;

// Inside the capability.
export const MSIX_FLAGS = 2; // Message Control: table size - 1 in bits 10:0
export const MSIX_TABLE = 4; // table offset | BIR
export const MSIX_PBA = 8; // PBA offset | BIR
export const MSIX_FLAGS_ENABLE = 1 << 15;
export const MSIX_FLAGS_MASKALL = 1 << 14;

// In BAR0 (BIR 0).
export const MSIX_TABLE_OFFSET = 0x2000;
export const MSIX_PBA_OFFSET = 0x3000;
export const MSIX_ENTRY_SIZE = 16;
/** Vector Control bit 0: the vector is masked (its reset value). */
export const MSIX_VECTOR_MASKED = 1;
/** At most as many vectors as queue ids; the table then ends at 0x2800, below the PBA. */
export const MSIX_MAX_VECTORS = 128;

/** Writes the capability at MSIX_CAP_OFFSET (its next pointer 0: the end of the list). */
export function writeMsixCapability(space: Uint8Array, vectors: number): void {
  if (!Number.isInteger(vectors) || vectors < 1 || vectors > MSIX_MAX_VECTORS) {
    throw new RangeError(`pci: MSI-X vector count ${vectors} is not 1..${MSIX_MAX_VECTORS}`);
  }
  const dv = new DataView(space.buffer, space.byteOffset, space.byteLength);
  space[MSIX_CAP_OFFSET] = CAP_ID_MSIX;
  space[MSIX_CAP_OFFSET + 1] = 0;
  dv.setUint16(MSIX_CAP_OFFSET + MSIX_FLAGS, vectors - 1, true); // disabled, not masked
  dv.setUint32(MSIX_CAP_OFFSET + MSIX_TABLE, MSIX_TABLE_OFFSET, true);
  dv.setUint32(MSIX_CAP_OFFSET + MSIX_PBA, MSIX_PBA_OFFSET, true);
}

/**
 * Message Control as the guest left it, from the live config space as 32-bit words (the
 * emulator's copy: writes land there and the device is not told).
 */
export function msixControl(space: Int32Array): number {
  return (space[MSIX_CAP_OFFSET >> 2] >>> 16) & 0xffff;
}
