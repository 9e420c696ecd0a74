// The namespace table: which NSIDs are allocated, which are attached to this controller, how much
// capacity is left for the guest to allocate, and which NSIDs changed since the host last read
// the Changed Namespace List. The controllers of an NVM subsystem (`join`) have a table each over
// the same namespaces: allocation, capacity and the Namespace objects are the subsystem's, being
// attached and the Changed Namespace List each controller's. The NVM capacity (TNVMCAP) is
// `guestCapacity` plus what the host's namespaces bring (addNamespace adds theirs, removeNamespace
// takes it away again); every allocated namespace holds its size of it, and one the guest
// deletes, whoever made it, gives it back (UNVMCAP). Namespaces the guest creates get a backend
// from `createBackend` (default: a sparse memory disk, costing memory only where it is written).

import type { BlockBackend } from "../backends/block-backend.ts";
import { CowBackend } from "../backends/cow-disk.ts";
import { withOldResultNames } from "../backends/option-names.ts";
import { Namespace } from "./namespace.ts";
import type { NamespaceOptions, ZonedOptions } from "./options.ts";
import type { SavedZones, ZoneGeometry } from "./zones.ts";

export type NamespaceOrigin = "host" | "guest";

/** Makes the backend of a namespace the guest creates (a promise: the create command completes when it settles). */
export type CreateBackend = (nsid: number, bytes: number) => BlockBackend | Promise<BlockBackend>;

export interface NamespaceEntry {
  readonly ns: Namespace;
  readonly origin: NamespaceOrigin;
  attached: boolean;
}

/** A namespace as the host sees it in NvmeController.namespaces(). */
export interface NamespaceInfo {
  nsid: number;
  bytes: number;
  logicalBlockSize: number;
  /** @deprecated Use logicalBlockSize (this one warns once and goes in the next release). */
  readonly logical_block_size: number;
  attached: boolean;
  /** Who made it: the host (options, addNamespace) or the guest (Namespace Management). */
  origin: NamespaceOrigin;
  backend: BlockBackend;
}

/** A created namespace's NSID, a backend still being made (the NSID and bytes stay reserved meanwhile), or why not. */
export type CreateResult = number | { nsid: number; ready: Promise<void> } | "capacity" | "no-nsid";

/** What the controllers of one NVM subsystem share of their tables. */
interface Subsystem {
  /** Every controller's table, in controller ID order (CNTLID 1, 2, ...). */
  readonly tables: NamespaceTable[];
  /** NSIDs held for namespaces whose backends are being made, with their bytes. */
  readonly reserved: Map<number, number>;
  /** Total NVM capacity in bytes (TNVMCAP). */
  total: number;
}

export class NamespaceTable {
  private readonly slots: (NamespaceEntry | undefined)[];
  /** Attached namespaces in NSID order: what I/O, the active list and flushes see. */
  active: Namespace[] = [];
  private readonly changed = new Set<number>();
  private readonly subsystem: Subsystem;
  /** This controller's ID in the subsystem (Identify Controller CNTLID). */
  readonly cntlid: number;
  /** Raises the Namespace Attribute Changed notice on this table's controller (set by the controller). */
  notice: () => void = () => {};
  /** Whether a host has set this table's controller up: an I/O CQ that interrupts, or with `polledCounts` any I/O queue (set by the controller). */
  hostUp: (polledCounts: boolean) => boolean = () => true;
  /** Whether this table's controller is in its first enable since power-on, the boot firmware's (set by the controller). */
  firmwareTurn: () => boolean = () => false;
  /** The active set changed since the last announce(). */
  private unannounced = false;

  constructor(
    readonly nn: number,
    guestCapacity: number,
    private readonly serial: string,
    private readonly makeBackend: CreateBackend = sparseMemoryDisk,
    /** Another controller's table: this one joins its subsystem, with its namespaces attached where they are to it. */
    peer?: NamespaceTable,
  ) {
    this.slots = new Array<NamespaceEntry | undefined>(nn).fill(undefined);
    this.subsystem = peer?.subsystem ?? { tables: [], reserved: new Map(), total: guestCapacity };
    this.subsystem.tables.push(this);
    this.cntlid = this.subsystem.tables.length;
    for (const e of peer?.entries() ?? []) this.slots[e.ns.nsid - 1] = { ...e };
    this.active = this.entries().filter((e) => e.attached).map((e) => e.ns);
  }

  /** A further controller's table in `peer`'s subsystem (the same NN, serial and backend maker). */
  static join(peer: NamespaceTable): NamespaceTable {
    return new NamespaceTable(peer.nn, 0, peer.serial, peer.makeBackend, peer);
  }

  /** The tables of every controller in the subsystem, this one among them, in CNTLID order. */
  get controllers(): readonly NamespaceTable[] {
    return this.subsystem.tables;
  }

  /** The table of controller `cntlid` in this subsystem. */
  controller(cntlid: number): NamespaceTable | undefined { return this.subsystem.tables[cntlid - 1]; }

  /** Raises the notice on every controller whose active set changed since it was last told. */
  announce(): void {
    for (const t of this.subsystem.tables) {
      if (t.unannounced) { t.unannounced = false; t.notice(); }
    }
  }

  /** `nsids` changed through this controller (Format NVM): the other controllers they are attached to list them and are told. */
  changedElsewhere(nsids: readonly number[]): void {
    for (const t of this.subsystem.tables) {
      for (const n of nsids) if (t !== this && t.slots[n - 1]?.attached) { t.changed.add(n); t.unannounced = true; }
    }
    this.announce();
  }

  /** 1..NN: an NSID a command may name (allocated or not). */
  valid(nsid: number): boolean {
    return Number.isInteger(nsid) && nsid >= 1 && nsid <= this.nn;
  }

  entry(nsid: number): NamespaceEntry | undefined {
    return this.valid(nsid) ? this.slots[nsid - 1] : undefined;
  }

  /** The namespace when it is attached (active), else undefined. */
  attached(nsid: number): Namespace | undefined {
    const e = this.entry(nsid);
    return e?.attached ? e.ns : undefined;
  }

  entries(): NamespaceEntry[] {
    return this.slots.filter((e): e is NamespaceEntry => e !== undefined);
  }

  /** The NVM capacity (TNVMCAP): `guestCapacity` and the host's namespaces; a guest's delete leaves it. */
  get totalBytes(): number {
    return this.subsystem.total;
  }

  /** What the guest may still allocate (UNVMCAP): the capacity no namespace holds. */
  get unallocatedBytes(): number {
    let held = this.allocatedBytes();
    for (const b of this.subsystem.reserved.values()) held += b;
    return Math.max(0, this.subsystem.total - held);
  }

  /** Bytes the allocated namespaces hold. */
  allocatedBytes(): number {
    let n = 0;
    for (const e of this.slots) if (e) n += e.ns.backend.byteLength;
    return n;
  }

  /** The lowest NSID not allocated, or 0 when all NN are. */
  freeNsid(): number {
    for (let i = 0; i < this.nn; i++) if (!this.slots[i] && !this.subsystem.reserved.has(i + 1)) return i + 1;
    return 0;
  }

  /** Allocates a host namespace at `nsid` (default the lowest free one), attached to every controller. Throws on bad options. */
  addHost(o: NamespaceOptions, nsid = this.freeNsid()): number {
    if (nsid === 0) throw new Error(`nvme: no free namespace ID (all ${this.nn} allocated; raise nn)`);
    if (!this.valid(nsid) || this.slots[nsid - 1] || this.subsystem.reserved.has(nsid)) throw new Error(`nvme: namespace ID ${nsid} is taken or outside 1..${this.nn}`);
    const ns = new Namespace(nsid, o, this.serial);
    this.allocate(ns, "host", true);
    this.subsystem.total += ns.backend.byteLength;
    return nsid;
  }

  /** Puts a new namespace into every controller's table. */
  private allocate(ns: Namespace, origin: NamespaceOrigin, attached: boolean): void {
    for (const t of this.subsystem.tables) {
      t.slots[ns.nsid - 1] = { ns, origin, attached };
      if (attached) t.update(ns.nsid);
    }
  }

  /** Namespace Management create: `blocks` of `blockSize` bytes from the guest's capacity, not attached; zoned for CSI 02h. */
  createGuest(blocks: number, blockSize: number, zoned = false): CreateResult {
    const bytes = blocks * blockSize;
    if (bytes > this.unallocatedBytes) return "capacity";
    const nsid = this.freeNsid();
    if (nsid === 0) return "no-nsid";
    const made = this.makeBackend(nsid, bytes);
    const place = (backend: BlockBackend): void => {
      const ns = new Namespace(nsid, { backend, logicalBlockSize: blockSize as 512 | 4096, zoned: zoned ? chooseZones(blocks, blockSize) : undefined }, this.serial);
      if (ns.blocks !== blocks) throw new Error(`createBackend gave namespace ${nsid} ${backend.byteLength} bytes, not ${bytes}`);
      this.allocate(ns, "guest", false);
    };
    if (!(made instanceof Promise)) {
      place(made);
      return nsid;
    }
    const reserved = this.subsystem.reserved;
    reserved.set(nsid, bytes);
    const ready = made.then(place).finally(() => reserved.delete(nsid));
    return { nsid, ready };
  }

  /**
   * The host takes `nsid` away (removeNamespace; detached first): a namespace the host brought
   * takes its capacity with it, one the guest made leaves its capacity free. Returns what it held.
   */
  remove(nsid: number): NamespaceEntry | undefined {
    const e = this.delete(nsid);
    if (e?.origin === "host") this.subsystem.total -= e.ns.backend.byteLength;
    return e;
  }

  /** Namespace Management delete: frees `nsid` (detached from every controller first), its capacity free again. Returns this controller's entry. */
  delete(nsid: number): NamespaceEntry | undefined {
    const e = this.entry(nsid);
    if (!e) return undefined;
    for (const t of this.subsystem.tables) {
      const mine = t.slots[nsid - 1];
      t.slots[nsid - 1] = undefined;
      if (mine?.attached) t.update(nsid);
    }
    return e;
  }

  /** Attaches `nsid` to this controller or detaches it. */
  setAttached(nsid: number, attached: boolean): void {
    const e = this.entry(nsid);
    if (!e || e.attached === attached) return;
    e.attached = attached;
    this.update(nsid);
  }

  /** The active list changed at `nsid`: rebuild it and note the NSID for the Changed Namespace List. */
  private update(nsid: number): void {
    this.active = this.entries().filter((e) => e.attached).map((e) => e.ns);
    this.changed.add(nsid);
    this.unannounced = true;
  }

  /** NSIDs whose attachment changed since the list was last cleared, ascending. */
  changedList(): number[] {
    return [...this.changed].sort((a, b) => a - b);
  }

  /** Forgets the change history (the host read the log, or the controller was set up anew). */
  clearChanged(): void {
    this.changed.clear();
    this.unannounced = false;
  }

  restoreChanged(list: readonly number[]): void {
    for (const n of list) this.changed.add(n);
  }

  info(): NamespaceInfo[] {
    return this.entries().map((e) =>
      withOldResultNames(
        "namespaceInfo",
        { nsid: e.ns.nsid, bytes: e.ns.blocks * e.ns.blockSize, logicalBlockSize: e.ns.blockSize, attached: e.attached, origin: e.origin, backend: e.ns.backend } as NamespaceInfo,
        "namespaces()",
      ),
    );
  }

  /** Puts an entry back as a snapshot had it (restore; the caller checked it). */
  put(e: NamespaceEntry): void {
    this.slots[e.ns.nsid - 1] = e;
    this.active = this.entries().filter((x) => x.attached).map((x) => x.ns);
  }

  /** A controller reset: every zoned namespace closes its open zones. */
  controllerReset(): void {
    for (const e of this.slots) e?.ns.zones?.controllerReset();
  }

  /** Sets TNVMCAP as a snapshot had it (restore; the caller checked it). */
  setTotal(bytes: number): void {
    this.subsystem.total = bytes;
  }
}

/** Largest zone a guest's zoned namespace gets: what ZNS drives commonly have, and memory disks' room. */
const GUEST_ZONE_BYTES = 64 << 20;

/**
 * The zones of a zoned namespace the guest creates (the controller chooses): the largest power of
 * two of blocks that divides the namespace, at most 64 MiB, and at least four zones where the size allows.
 */
function chooseZones(blocks: number, blockSize: number): ZonedOptions {
  let zone = 1;
  while (blocks % (zone * 2) === 0 && zone * 2 * blockSize <= GUEST_ZONE_BYTES) zone *= 2;
  while (zone > 1 && blocks / zone < 4) zone /= 2;
  return { zoneSizeBlocks: zone };
}

/** The default disk of a namespace the guest creates: zeros, with memory only for what is written. */
function sparseMemoryDisk(_nsid: number, bytes: number): BlockBackend {
  const zeros = { byteLength: bytes, tryRead: (_o: number, dst: Uint8Array) => (dst.fill(0), true), read: (_o: number, n: number) => Promise.resolve(new Uint8Array(n)) };
  return new CowBackend(zeros, { memoryBudget: Infinity });
}

/** A namespace as a snapshot keeps it: the table's shape, not the data (that is the backend's). */
export interface SavedNamespace {
  nsid: number;
  bytes: number;
  block_size: number;
  attached: boolean;
  origin: NamespaceOrigin;
  /** A zoned namespace's geometry, zone states and write pointers. */
  zones?: SavedZones & { geometry: ZoneGeometry };
}

export interface SavedNamespaces {
  table: SavedNamespace[];
  changed: number[];
  /** TNVMCAP in bytes; absent in older snapshots (the controller's stays). */
  total?: number;
  /** This controller's CNTLID and how many controllers its subsystem has; absent in older snapshots (1 of 1). */
  cntlid?: number;
  controllers?: number;
}

export function saveNamespaces(t: NamespaceTable): SavedNamespaces {
  return {
    // The configured block size: a Format NVM's current one is the data-management state's.
    table: t.entries().map((e) => ({
      nsid: e.ns.nsid, bytes: e.ns.backend.byteLength, block_size: e.ns.initialBlockSize, attached: e.attached, origin: e.origin,
      ...(e.ns.zones ? { zones: { geometry: { ...e.ns.zones.geometry }, ...e.ns.zones.save() } } : {}),
    })),
    changed: t.changedList(),
    total: t.totalBytes,
    cntlid: t.cntlid,
    controllers: t.controllers.length,
  };
}

const describe = (s: { nsid: number; bytes: number; block_size: number; origin: NamespaceOrigin }): string =>
  `namespace ${s.nsid} (${s.bytes} bytes in ${s.block_size}-byte blocks, made by the ${s.origin})`;

/**
 * Checks a snapshot's namespace table, as untrusted input, against the namespaces this controller
 * has: every saved namespace must be here with the same size, block size and origin (its data is
 * on a backend the host supplies, never in the snapshot). Namespaces here that the snapshot lacks
 * are dropped when the guest created them, and refused when the host added them. Throws naming
 * the first mismatch; returns what puts the saved table in place. Old snapshots (none saved):
 * the table stays.
 */
export function checkNamespaces(t: NamespaceTable, saved: unknown): () => void {
  if (saved === undefined) return () => {};
  const s = saved as Partial<SavedNamespaces> | null;
  if (!s || !Array.isArray(s.table) || !Array.isArray(s.changed)) throw new Error("namespace table missing");
  if (s.table.length > t.nn || s.changed.length > t.nn) throw new Error(`namespace table larger than nn ${t.nn}`);
  const cntlid = s.cntlid ?? 1;
  const controllers = s.controllers ?? 1;
  if (cntlid !== t.cntlid || controllers !== t.controllers.length) {
    throw new Error(`the snapshot is of controller ${String(cntlid)} of ${String(controllers)} in its subsystem, this is controller ${t.cntlid} of ${t.controllers.length}`);
  }
  const seen = new Set<number>();
  const keep: { e: NamespaceEntry; attached: boolean; zones?: SavedZones }[] = [];
  for (const [i, raw] of s.table.entries()) {
    const n = raw as Partial<SavedNamespace> | null;
    if (!n || typeof n !== "object" || !t.valid(n.nsid!) || seen.has(n.nsid!) || !Number.isSafeInteger(n.bytes) || !Number.isInteger(n.block_size)
      || typeof n.attached !== "boolean" || (n.origin !== "host" && n.origin !== "guest")) throw new Error(`namespace table entry ${i} is malformed`);
    const sn = n as SavedNamespace;
    seen.add(sn.nsid);
    const e = t.entry(sn.nsid);
    if (!e || e.ns.backend.byteLength !== sn.bytes || e.ns.initialBlockSize !== sn.block_size || e.origin !== sn.origin) {
      const here = e ? `this controller has ${describe({ nsid: sn.nsid, bytes: e.ns.backend.byteLength, block_size: e.ns.initialBlockSize, origin: e.origin })}` : "this controller has none";
      throw new Error(`the snapshot has ${describe(sn)}, ${here}${sn.origin === "host" ? "; add it with addNamespace before restoring" : ""}`);
    }
    keep.push({ e, attached: sn.attached, zones: checkZones(e, sn) });
  }
  const drop = t.entries().filter((e) => !seen.has(e.ns.nsid));
  const hostOnly = drop.find((e) => e.origin === "host");
  if (hostOnly) throw new Error(`this controller has ${describe({ nsid: hostOnly.ns.nsid, bytes: hostOnly.ns.blocks * hostOnly.ns.blockSize, block_size: hostOnly.ns.blockSize, origin: "host" })}, which the snapshot lacks; remove it before restoring`);
  const changed = s.changed.map((n, i) => {
    if (!t.valid(n)) throw new Error(`changed namespace list entry ${i} is ${String(n)}`);
    return n as number;
  });
  const total = s.total;
  const held = keep.reduce((n, k) => n + k.e.ns.backend.byteLength, 0);
  if (total !== undefined && (!Number.isSafeInteger(total) || total < held)) throw new Error(`total NVM capacity ${String(total)} (the snapshot's namespaces hold ${held} bytes)`);
  return () => {
    for (const d of drop) t.delete(d.ns.nsid);
    if (total !== undefined) t.setTotal(total);
    for (const k of keep) {
      t.put({ ns: k.e.ns, origin: k.e.origin, attached: k.attached });
      if (k.zones) k.e.ns.zones!.restore(k.zones);
    }
    t.clearChanged();
    t.restoreChanged(changed);
  };
}

/** A saved namespace's zones, checked against the namespace here: zoned alike, the same geometry, states and write pointers that can be. */
function checkZones(e: NamespaceEntry, sn: SavedNamespace): SavedZones | undefined {
  const zones = e.ns.zones;
  const what = `namespace ${sn.nsid}`;
  if (sn.zones === undefined && !zones) return undefined;
  if (sn.zones === undefined || !zones) throw new Error(`${what} is ${zones ? "" : "not "}zoned here, ${zones ? "not " : ""}in the snapshot`);
  const g = (sn.zones as { geometry?: unknown } | null)?.geometry;
  if (JSON.stringify(g) !== JSON.stringify(zones.geometry)) throw new Error(`${what}: the snapshot's zones are ${JSON.stringify(g)}, here ${JSON.stringify(zones.geometry)}`);
  return zones.check(sn.zones, what);
}
