// A namespace: a block backend seen through its current LBA format (with its metadata and end-to-end
// protection settings), with its identifiers, the blocks marked uncorrectable, its zones when it is
// zoned, and the I/O under way on it (which a format waits for).

import type { BlockBackend } from "../backends/block-backend.ts";
import type { NamespaceOptions, ZonedOptions } from "./options.ts";
import { ZoneSet } from "./zones.ts";
import { CSI_NVM } from "../spec/identify.ts";
import { CSI_ZNS } from "../spec/zns.ts";
import { RangeSet } from "../backends/range-set.ts";
import { RP_BEST, RP_BETTER, RP_GOOD } from "../spec/identify.ts";
import { MetadataStore } from "./metadata.ts";
import { PI_SIZE, PI_TYPE3 } from "../spec/protection.ts";

/** The LBA formats every namespace offers (Identify Namespace LBAF0-5): `ms` bytes of metadata per block. */
export const LBA_FORMATS: readonly { readonly size: number; readonly shift: number; readonly ms: number; readonly rp: number }[] = [
  { size: 512, shift: 9, ms: 0, rp: RP_GOOD },
  { size: 4096, shift: 12, ms: 0, rp: RP_BEST }, // a quarter of the commands for the same bytes
  { size: 512, shift: 9, ms: 8, rp: RP_GOOD },
  { size: 512, shift: 9, ms: 16, rp: RP_GOOD },
  { size: 4096, shift: 12, ms: 8, rp: RP_BETTER },
  { size: 4096, shift: 12, ms: 16, rp: RP_BETTER },
];

/** How a format with metadata places it: extended (after each block's data) or separate, and the protection type and place. */
export interface Protection {
  readonly extended: boolean;
  /** Protection information type, 0 (none) to 3. */
  readonly pi: number;
  /** The PI is the first 8 bytes of the metadata (else the last). */
  readonly piFirst: boolean;
}
export const NO_PROTECTION: Protection = { extended: false, pi: 0, piFirst: false };

/** Most uncorrectable ranges one namespace keeps; Write Uncorrectable past it fails. */
export const UNCORRECTABLE_LIMIT = 1024;

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
  /** The block size the namespace was configured with (what a snapshot's configuration names). */
  readonly initialBlockSize: number;
  /** Index of the current LBA format in LBA_FORMATS (FLBAS). */
  lbaf = 0;
  blockSize = 512;
  blockShift = 9;
  /** Metadata bytes per block (0: none), and how they are placed and protected; the store holds them. */
  metaSize = 0;
  protection: Protection = NO_PROTECTION;
  meta: MetadataStore | undefined;
  /** Size in logical blocks. */
  blocks = 0;
  /** Blocks made uncorrectable by Write Uncorrectable, in the current format's blocks. */
  readonly uncorrectable = new RangeSet(UNCORRECTABLE_LIMIT);
  /** True while a Format NVM runs on the namespace. */
  formatting = false;
  private pending = 0;
  private idleWaiters: (() => void)[] = [];
  readonly eui64: Uint8Array;
  readonly nguid: Uint8Array;
  readonly uuid: Uint8Array;
  /** The zones of a zoned namespace (CSI 02h); undefined for an NVM one. */
  readonly zones: ZoneSet | undefined;

  constructor(readonly nsid: number, o: NamespaceOptions, serial: string) {
    this.backend = o.backend;
    this.initialBlockSize = o.logicalBlockSize ?? 512;
    const ms = o.metadataSize ?? 0;
    const lbaf = LBA_FORMATS.findIndex((f) => f.size === this.initialBlockSize && f.ms === ms);
    if (!LBA_FORMATS.some((f) => f.size === this.initialBlockSize)) throw new Error(`nvme: namespace ${nsid}: logicalBlockSize must be 512 or 4096`);
    if (lbaf < 0) throw new Error(`nvme: namespace ${nsid}: metadataSize must be 0, 8 or 16`);
    const p = protectionOption(nsid, o, ms);
    this.zones = o.zoned === undefined ? undefined : zoneSet(nsid, o.zoned, this.initialBlockSize, o.backend.byteLength);
    if (ms > 0 && this.zones) throw new Error(`nvme: namespace ${nsid}: a zoned namespace takes no metadata`);
    if (!this.formatUsable(lbaf, p)) {
      throw new Error(`nvme: namespace ${nsid}: disk size ${o.backend.byteLength} is not a positive multiple of ${this.initialBlockSize}`);
    }
    this.setFormat(lbaf, p);
    const d = derive(`${serial}/ns${nsid}`);
    this.eui64 = hexId(o.eui64, 8, d.slice(0, 8), "eui64");
    this.nguid = hexId(o.nguid, 16, d, "nguid");
    const u = derive(`${serial}/ns${nsid}/uuid`);
    u[6] = (u[6] & 0x0f) | 0x40; // version 4 layout
    u[8] = (u[8] & 0x3f) | 0x80;
    this.uuid = hexId(o.uuid, 16, u, "uuid");
  }

  /** The Command Set Identifier: NVM, or Zoned Namespace. */
  get csi(): number {
    return this.zones ? CSI_ZNS : CSI_NVM;
  }

  /** True when the disk (and each zone) holds a whole positive number of blocks of LBA format `lbaf`. */
  formatUsable(lbaf: number, p: Protection = NO_PROTECTION): boolean {
    const f = LBA_FORMATS[lbaf];
    if (f === undefined || !protectionFits(f.ms, p) || (f.ms > 0 && this.zones)) return false; // zones carry no metadata
    return this.backend.byteLength >= f.size && this.backend.byteLength % f.size === 0 && (this.zones?.fits(f.size) ?? true);
  }

  /** Makes LBA format `lbaf` with `p` (usable) the current one; blocks marked uncorrectable and metadata are forgotten. */
  setFormat(lbaf: number, p: Protection = NO_PROTECTION): void {
    const f = LBA_FORMATS[lbaf];
    this.lbaf = lbaf;
    this.blockSize = f.size;
    this.blockShift = f.shift;
    this.blocks = this.backend.byteLength / f.size;
    this.metaSize = f.ms;
    this.protection = f.ms > 0 ? p : NO_PROTECTION;
    this.meta = f.ms > 0 ? new MetadataStore(f.ms, this.blocks) : undefined;
    this.uncorrectable.clear();
    if (this.zones) this.zones.shift = f.shift;
  }

  /** Counts `op` as I/O under way on the namespace until it settles. */
  track<T>(op: Promise<T>): Promise<T> {
    this.pending++;
    const done = () => {
      if (--this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
    op.then(done, done);
    return op;
  }

  /** Resolves once no I/O is under way on the namespace; undefined when none is now. */
  idle(): Promise<void> | undefined {
    if (this.pending === 0) return undefined;
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Erases a byte range so it reads as zeros: deallocated where the backend can, else written with zeros. */
  erase(offset: number, length: number, deallocate = true): void | Promise<void> {
    this.meta?.erase(offset / this.blockSize, length / this.blockSize);
    return deallocate && this.backend.discardZeroes ? this.backend.discard(offset, length) : this.backend.writeZeroes(offset, length);
  }

  /** True when blocks [slba, slba + count) exist. */
  inRange(slba: number, count: number): boolean {
    return slba >= 0 && count >= 0 && slba <= this.blocks && count <= this.blocks - slba;
  }
}

/** Whether metadata of `ms` bytes can take `p`: a known type, and PI only where there is room for it. */
export function protectionFits(ms: number, p: Protection): boolean {
  if (!Number.isInteger(p.pi) || p.pi < 0 || p.pi > PI_TYPE3) return false;
  return p.pi === 0 || ms >= PI_SIZE;
}

/** The protection options, checked: a clear error naming the namespace and the option. */
function protectionOption(nsid: number, o: NamespaceOptions, ms: number): Protection {
  const what = `nvme: namespace ${nsid}`;
  const pi = o.protectionType ?? 0;
  if (!Number.isInteger(pi) || pi < 0 || pi > PI_TYPE3) throw new Error(`${what}: protectionType must be 0, 1, 2 or 3`);
  if (pi > 0 && ms < PI_SIZE) throw new Error(`${what}: protectionType ${pi} needs metadataSize 8 or 16`);
  for (const k of ["metadataExtended", "protectionFirst"] as const) {
    if (o[k] !== undefined && typeof o[k] !== "boolean") throw new Error(`${what}: ${k} must be true or false`);
  }
  return { extended: o.metadataExtended === true, pi, piFirst: o.protectionFirst === true };
}

const positive = (v: number | undefined) => v === undefined || (Number.isSafeInteger(v) && v > 0);

/** The zones `o` asks for, checked: a clear error naming the namespace and the option. */
function zoneSet(nsid: number, o: ZonedOptions, blockSize: number, bytes: number): ZoneSet {
  const what = `nvme: namespace ${nsid}: zoned`;
  if (!o || typeof o !== "object" || !positive(o.zoneSizeBlocks) || o.zoneSizeBlocks === undefined) throw new Error(`${what}.zoneSizeBlocks must be a positive integer`);
  const cap = o.zoneCapacityBlocks ?? o.zoneSizeBlocks;
  if (!positive(cap) || cap > o.zoneSizeBlocks) throw new Error(`${what}.zoneCapacityBlocks must be a positive integer of at most zoneSizeBlocks (${o.zoneSizeBlocks})`);
  if (!positive(o.maxOpen) || !positive(o.maxActive)) throw new Error(`${what}.maxOpen and maxActive must be positive integers`);
  if (o.maxOpen !== undefined && o.maxActive !== undefined && o.maxOpen > o.maxActive) throw new Error(`${what}.maxOpen (${o.maxOpen}) exceeds maxActive (${o.maxActive})`);
  const zoneBytes = o.zoneSizeBlocks * blockSize;
  if (bytes % zoneBytes !== 0 || bytes === 0) throw new Error(`${what}: disk size ${bytes} is not a whole number of ${zoneBytes}-byte zones`);
  return new ZoneSet({ zoneBytes, capacityBytes: cap * blockSize, maxOpen: o.maxOpen ?? 0, maxActive: o.maxActive ?? 0, crossZoneReads: o.crossZoneReads === true }, bytes);
}
