// A namespace: a block backend seen through one LBA format, with its identifiers.

import type { BlockBackend } from "../backends/block-backend.ts";
import type { NamespaceOptions } from "./options.ts";

function hexId(v: string | undefined, bytes: number, fallback: Uint8Array, what: string): Uint8Array {
  if (v === undefined) return fallback;
  const h = v.replace(/[-:]/g, "");
  if (!new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(h)) throw new Error(`nvme: ${what} must be ${bytes * 2} hex digits`);
  return Uint8Array.from({ length: bytes }, (_, i) => parseInt(h.slice(i * 2, i * 2 + 2), 16));
}

/** A stable 16-byte value from a text seed (FNV-1a), so identifiers survive reloads. */
function derive(seed: string): Uint8Array {
  const out = new Uint8Array(16);
  let h = 0x811c9dc5;
  for (let i = 0; i < 16; i++) {
    for (const c of `${seed}#${i}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
    out[i] = h & 0xff;
  }
  return out;
}

export class Namespace {
  readonly backend: BlockBackend;
  readonly blockSize: number;
  readonly blockShift: number;
  /** Size in logical blocks. */
  readonly blocks: number;
  readonly eui64: Uint8Array;
  readonly nguid: Uint8Array;
  readonly uuid: Uint8Array;

  constructor(readonly nsid: number, o: NamespaceOptions, serial: string) {
    this.backend = o.backend;
    this.blockSize = o.logical_block_size ?? 512;
    if (this.blockSize !== 512 && this.blockSize !== 4096) throw new Error(`nvme: namespace ${nsid}: logical_block_size must be 512 or 4096`);
    this.blockShift = this.blockSize === 512 ? 9 : 12;
    if (o.backend.byteLength % this.blockSize !== 0 || o.backend.byteLength < this.blockSize) {
      throw new Error(`nvme: namespace ${nsid}: disk size ${o.backend.byteLength} is not a positive multiple of ${this.blockSize}`);
    }
    this.blocks = o.backend.byteLength / this.blockSize;
    const d = derive(`${serial}/ns${nsid}`);
    this.eui64 = hexId(o.eui64, 8, d.slice(0, 8), "eui64");
    this.nguid = hexId(o.nguid, 16, d, "nguid");
    const u = derive(`${serial}/ns${nsid}/uuid`);
    u[6] = (u[6] & 0x0f) | 0x40; // version 4 layout
    u[8] = (u[8] & 0x3f) | 0x80;
    this.uuid = hexId(o.uuid, 16, u, "uuid");
  }

  /** True when blocks [slba, slba + count) exist. */
  inRange(slba: number, count: number): boolean {
    return slba >= 0 && count >= 0 && slba <= this.blocks && count <= this.blocks - slba;
  }
}
