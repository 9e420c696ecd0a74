// Controller options and their validation: a bad option is a clear error at creation, never a
// misbehaving device later. Their names follow the table in src/backends/option-names.ts (QEMU's
// `-device nvme` / `nvme-ns` property names are accepted where they are the same option).

import type { BlockBackend } from "../backends/block-backend.ts";
import { normalizeOptionNames } from "../backends/option-names.ts";
import { MAX_QUEUES } from "../hotpath.ts";
import type { HotPathWasm } from "../hotpath-module.ts";

export interface NamespaceOptions {
  backend: BlockBackend;
  /** Logical block size in bytes (default 512). QEMU: logical_block_size. */
  logicalBlockSize?: 512 | 4096;
  /** QEMU's name for logicalBlockSize. */
  logical_block_size?: 512 | 4096;
  /** 16 hex digits; derived from the serial and nsid when absent. */
  eui64?: string;
  /** 32 hex digits; derived when absent. */
  nguid?: string;
  /** RFC 4122 text form; derived when absent. */
  uuid?: string;
  /** Makes the namespace zoned (Zoned Namespace Command Set, CSI 02h): its size must be a whole number of zones. */
  zoned?: ZonedOptions;
  /** Metadata bytes per block the namespace starts with: 0 (default), 8 or 16 (QEMU: ms). */
  metadataSize?: 0 | 8 | 16;
  /** The metadata follows each block's data (extended LBAs) instead of a buffer of its own (QEMU: mset=1). */
  metadataExtended?: boolean;
  /** End-to-end protection information type 1, 2 or 3 in the metadata (default 0, none; QEMU: pi). */
  protectionType?: 0 | 1 | 2 | 3;
  /** The PI is the first 8 bytes of the metadata instead of the last (QEMU: pil=1). */
  protectionFirst?: boolean;
}

/** A zoned namespace's zones, in logical blocks of the namespace's `logicalBlockSize`. */
export interface ZonedOptions {
  /** Blocks per zone (Linux wants a power of two). */
  zoneSizeBlocks: number;
  /** Writable blocks per zone (default: the zone size). */
  zoneCapacityBlocks?: number;
  /** Most zones open at once (MOR + 1; default: no limit). */
  maxOpen?: number;
  /** Most zones open or closed at once (MAR + 1; default: no limit). */
  maxActive?: number;
  /** Reads may cross zone boundaries (OZCS bit 0; default false: a Zone Boundary Error). */
  crossZoneReads?: boolean;
}

export type DoorbellPolicy = "eager" | "awake";

export interface NvmeOptions extends DeprecatedNvmeOptions {
  /** Device name used in every log line (default "nvme0"). */
  name?: string;
  /** Serial number, at most 20 ASCII characters (default "V86NVME-" + name). QEMU: serial. */
  serial?: string;
  model?: string;
  firmware?: string;
  vendorId?: number;
  subsystemVendorId?: number;
  namespaces: NamespaceOptions[];
  /** Namespace IDs offered (Identify Controller NN, default 32): `namespaces` take 1, 2, …; the rest are free for addNamespace and the guest's Namespace Management. */
  nn?: number;
  /** Bytes the guest may allocate with Namespace Management (default 16 GiB); host namespaces add their own size to TNVMCAP, and one the guest deletes leaves its capacity to the guest. */
  guestCapacity?: number;
  /**
   * Makes the backend of a namespace the guest creates (default: a memory disk, allocated as it
   * is written); a promise makes the create command complete when it settles (a rejection is
   * Internal Error).
   */
  createBackend?: (nsid: number, bytes: number) => BlockBackend | Promise<BlockBackend>;
  /** I/O queue pairs offered (default 16, at most 127). QEMU: max_ioqpairs. */
  maxIoQueuePairs?: number;
  /** QEMU's name for maxIoQueuePairs. */
  max_ioqpairs?: number;
  /** Largest queue the host may create, in entries (default 1024, at most 65536; CAP.MQES is one less). */
  maxQueueEntries?: number;
  /** Maximum data transfer size as a power of two of the minimum page size (default 7: 512 KiB). QEMU: mdts. */
  mdts?: number;
  /** Offer Doorbell Buffer Config (shadow doorbells; default true). QEMU: dbcs. */
  shadowDoorbells?: boolean;
  /** QEMU's name for shadowDoorbells. */
  dbcs?: boolean;
  /**
   * When the device polls a queue: "eager" polls it to empty (and writes EventIdx) as soon as it
   * is rung; "awake" processes what is there and leaves the queue awake for the next timer tick,
   * which polls it and writes EventIdx only when it finds it empty (default).
   */
  doorbellPolicy?: DoorbellPolicy;
  /**
   * With the awake policy: how long (microseconds) a queue must have been idle before a timer poll
   * that finds it empty writes its EventIdx (default 0: at the first such poll). Until then the
   * queue is only probed, so a host that keeps submitting need not ring MMIO.
   */
  doorbellIdleUs?: number;
  /**
   * With the awake policy: a queue where one poll found at least this many entries at once since
   * the previous tick is kept awake, not armed (default 2; 0 = never). At queue depth 1 every poll
   * finds one entry, so the queue is armed and the host rings at once; a host that batches keeps
   * submitting through the shadow page only.
   */
  doorbellBatch?: number;
  /** Advertise a volatile write cache (default: whatever the backends have). */
  volatileWriteCache?: boolean;
  /** The hot path's hotpath.wasm: its URL, bytes or compiled module (default: the file shipped beside the code). */
  wasm?: HotPathWasm;
  /**
   * Commands the command trace keeps (default 1000; 0: no trace). Given, the trace records from the
   * start; else from the first injected fault. Host-side: not part of the configuration states are keyed on.
   */
  traceLength?: number;
}

/** The names of 0.1: they work until the next release, with a deprecation notice (option-names.ts). */
export interface DeprecatedNvmeOptions {
  /** @deprecated Use vendorId. */
  vendor_id?: number;
  /** @deprecated Use subsystemVendorId. */
  subsystem_vendor_id?: number;
  /** @deprecated Use guestCapacity. */
  guest_capacity?: number;
  /** @deprecated Use maxQueueEntries (the same value: entries). */
  mqes?: number;
  /** @deprecated Use shadowDoorbells. */
  shadow_doorbells?: boolean;
  /** @deprecated Use doorbellPolicy. */
  doorbell_policy?: DoorbellPolicy;
  /** @deprecated Use doorbellIdleUs. */
  doorbell_idle_us?: number;
  /** @deprecated Use doorbellBatch. */
  doorbell_batch?: number;
  /** @deprecated Use volatileWriteCache. */
  volatile_write_cache?: boolean;
}

/** `o` with its namespaces under the names of option-names.ts (aliases renamed; old names warned about once). */
export function normalizeNvmeOptionNames<T extends { namespaces?: NamespaceOptions[] }>(o: T, where: string): T {
  const out = normalizeOptionNames("controller", o, where);
  if (!out || typeof out !== "object" || !Array.isArray(out.namespaces)) return out;
  const namespaces = out.namespaces.map((n) => normalizeOptionNames("namespace", n, `${where}: namespaces[]`));
  return namespaces.every((n, i) => n === out.namespaces![i]) ? out : { ...out, namespaces };
}

/** Copy (19h) limits, in blocks, advertised in Identify Namespace and checked by the command. */
export interface CopyLimits {
  /** Maximum Single Source Range Length. */
  mssrl: number;
  /** Maximum Copy Length (8 MiB at 4096-byte blocks). */
  mcl: number;
  /** Maximum Source Range Count, 0's based. */
  msrc: number;
}

export const COPY_LIMITS: CopyLimits = { mssrl: 256, mcl: 2048, msrc: 127 };

export interface ControllerConfig {
  name: string;
  serial: string;
  model: string;
  firmware: string;
  vendorId: number;
  subsystemVendorId: number;
  maxIoQueues: number;
  mqes: number;
  mdts: number;
  mdtsBytes: number;
  shadowDoorbells: boolean;
  doorbellPolicy: DoorbellPolicy;
  doorbellIdleUs: number;
  doorbellBatch: number;
  volatileWriteCache: boolean;
  nn: number;
  guestCapacity: number;
  copyLimits: CopyLimits;
  traceLength: number;
}

function ascii(v: string, max: number, what: string): string {
  if (!/^[\x20-\x7e]*$/.test(v) || v.length > max) throw new Error(`nvme: ${what} must be printable ASCII of at most ${max} characters`);
  return v;
}

function int(v: number | undefined, def: number, min: number, max: number, what: string): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min || x > max) throw new Error(`nvme: ${what} must be an integer in ${min}..${max} (got ${v})`);
  return x;
}

export const MIN_PAGE_SIZE = 4096;
const DEFAULT_NN = 32;
/**
 * The most NSIDs one controller offers: the Identify lists and the Changed Namespace List hold
 * 1024 each, so the latter never needs its "more than 1024 changed" form.
 */
const MAX_NN = 1024;
/** What real hosts' tools expect of a drive (test suites create 10 GiB namespaces); guest namespaces are sparse. */
const DEFAULT_GUEST_CAPACITY = 16 * 2 ** 30;

/** The controller's configuration from options already under their names (normalizeNvmeOptionNames). */
export function normalizeOptions(o: NvmeOptions): ControllerConfig {
  if (!o || !Array.isArray(o.namespaces) || o.namespaces.length === 0) throw new Error("nvme: at least one namespace is required");
  const nn = int(o.nn, Math.max(DEFAULT_NN, o.namespaces.length), 1, MAX_NN, "nn");
  if (o.namespaces.length > nn) throw new Error(`nvme: ${o.namespaces.length} namespaces but nn is ${nn}`);
  if (o.createBackend !== undefined && typeof o.createBackend !== "function") throw new Error("nvme: createBackend must be a function");
  const name = o.name ?? "nvme0";
  const mdts = int(o.mdts, 7, 1, 9, "mdts");
  const policy = o.doorbellPolicy ?? "awake";
  if (policy !== "eager" && policy !== "awake") throw new Error(`nvme: doorbellPolicy must be "eager" or "awake"`);
  return {
    name,
    // Distinct devices need distinct serials (Linux keys subsystems on the NQN built from it).
    serial: ascii(o.serial ?? `V86NVME-${name}`.slice(0, 20), 20, "serial"),
    model: ascii(o.model ?? "v86-nvme Virtual NVMe Disk", 40, "model"),
    firmware: ascii(o.firmware ?? "1.0", 8, "firmware"),
    vendorId: int(o.vendorId, 0x1d1d, 0, 0xffff, "vendorId"),
    subsystemVendorId: int(o.subsystemVendorId, 0x1d1d, 0, 0xffff, "subsystemVendorId"),
    maxIoQueues: int(o.maxIoQueuePairs, 16, 1, MAX_QUEUES - 1, "maxIoQueuePairs"),
    mqes: int(o.maxQueueEntries, 1024, 2, 65536, "maxQueueEntries"),
    mdts,
    mdtsBytes: MIN_PAGE_SIZE << mdts,
    shadowDoorbells: o.shadowDoorbells ?? true,
    doorbellPolicy: policy,
    doorbellIdleUs: int(o.doorbellIdleUs, 0, 0, 1_000_000, "doorbellIdleUs"),
    doorbellBatch: int(o.doorbellBatch, 2, 0, 65536, "doorbellBatch") || Infinity,
    volatileWriteCache: o.volatileWriteCache ?? o.namespaces.some((n) => n.backend.volatileWriteCache),
    nn,
    guestCapacity: int(o.guestCapacity, DEFAULT_GUEST_CAPACITY, 0, Number.MAX_SAFE_INTEGER, "guestCapacity"),
    copyLimits: COPY_LIMITS,
    traceLength: int(o.traceLength, 1000, 0, 1_000_000, "traceLength"),
  };
}
