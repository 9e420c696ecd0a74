// The zones of a zoned namespace (Zoned Namespace Command Set): every zone sequential write
// required, of one size and capacity, with its state and write pointer, and the open and active
// resources (MOR, MAR) they hold. Geometry and write pointers are kept in bytes, so a zone is the
// same whatever LBA format the namespace is in; handlers ask in blocks of the current one.
// Writes are checked whole (check*) before anything moves, and committed only once they are accepted.

import * as Z from "../spec/zns.ts";
import * as O from "../spec/opcodes.ts";
import { EFF_CSUPP, EFF_LBCC } from "../spec/logs.ts";
import { IO_EFFECTS } from "./command-support.ts";
import {
  INVALID_FIELD, INVALID_ZONE_STATE_TRANSITION, SUCCESS, TOO_MANY_ACTIVE_ZONES, TOO_MANY_OPEN_ZONES, ZONE_BOUNDARY_ERROR, ZONE_INVALID_WRITE,
  ZONE_IS_FULL, ZONE_IS_OFFLINE, ZONE_IS_READ_ONLY, type Status,
} from "../spec/status.ts";

/**
 * The I/O commands of a zoned namespace and their effects (the Commands Supported and Effects log
 * for CSI 02h): the NVM commands but Copy and Write Uncorrectable, and the zone commands.
 */
export const ZONED_IO_EFFECTS: ReadonlyMap<number, number> = new Map([
  ...[...IO_EFFECTS].filter(([op]) => op !== O.IO_COPY && op !== O.IO_WRITE_UNCORRECTABLE),
  [Z.IO_ZONE_MGMT_SEND, EFF_CSUPP | EFF_LBCC],
  [Z.IO_ZONE_MGMT_RECV, EFF_CSUPP],
  [Z.IO_ZONE_APPEND, EFF_CSUPP | EFF_LBCC],
]);

/** A zoned namespace's geometry and limits, in bytes and zones (0: no limit). */
export interface ZoneGeometry {
  zoneBytes: number;
  capacityBytes: number;
  maxOpen: number;
  maxActive: number;
  /** Reads may span zones (OZCS bit 0); otherwise such a read is a Zone Boundary Error. */
  crossZoneReads: boolean;
}

/** A byte range of the namespace to erase (a zone reset). */
export type ByteRange = [offset: number, length: number];

const OPEN = new Set([Z.ZS_IMPLICITLY_OPENED, Z.ZS_EXPLICITLY_OPENED]);
const ACTIVE = new Set([Z.ZS_IMPLICITLY_OPENED, Z.ZS_EXPLICITLY_OPENED, Z.ZS_CLOSED]);
const STATES = new Set([Z.ZS_EMPTY, Z.ZS_IMPLICITLY_OPENED, Z.ZS_EXPLICITLY_OPENED, Z.ZS_CLOSED, Z.ZS_FULL, Z.ZS_READ_ONLY, Z.ZS_OFFLINE]);
/** Report filter (ZRASF) → the state it lists. */
const FILTER: ReadonlyMap<number, number> = new Map([
  [Z.ZRASF_EMPTY, Z.ZS_EMPTY], [Z.ZRASF_IMPLICITLY_OPENED, Z.ZS_IMPLICITLY_OPENED], [Z.ZRASF_EXPLICITLY_OPENED, Z.ZS_EXPLICITLY_OPENED],
  [Z.ZRASF_CLOSED, Z.ZS_CLOSED], [Z.ZRASF_FULL, Z.ZS_FULL], [Z.ZRASF_READ_ONLY, Z.ZS_READ_ONLY], [Z.ZRASF_OFFLINE, Z.ZS_OFFLINE],
]);

/** What a snapshot keeps of a namespace's zones. */
export interface SavedZones {
  state: number[];
  /** Bytes written into each zone (its write pointer less its start). */
  fill: number[];
}

export class ZoneSet {
  readonly count: number;
  private readonly state: Uint8Array;
  private readonly fill: Float64Array;
  private open = 0;
  private active = 0;
  /** log2 of the namespace's current block size. */
  shift = 9;

  constructor(readonly geometry: ZoneGeometry, namespaceBytes: number) {
    this.count = namespaceBytes / geometry.zoneBytes;
    this.state = new Uint8Array(this.count).fill(Z.ZS_EMPTY);
    this.fill = new Float64Array(this.count);
  }

  /** Zone size and capacity in blocks of the current format. */
  get zoneBlocks(): number {
    return this.geometry.zoneBytes / 2 ** this.shift;
  }

  get capacityBlocks(): number {
    return this.geometry.capacityBytes / 2 ** this.shift;
  }

  /** True when blocks of `size` bytes divide the zones (an LBA format the namespace can take). */
  fits(size: number): boolean {
    return this.geometry.zoneBytes % size === 0 && this.geometry.capacityBytes % size === 0;
  }

  zoneOf(lba: number): number {
    return Math.floor(lba / this.zoneBlocks);
  }

  stateOf(zone: number): number {
    return this.state[zone];
  }

  /** The write pointer of `zone`, an LBA. */
  wp(zone: number): number {
    return zone * this.zoneBlocks + Math.floor(this.fill[zone] / 2 ** this.shift);
  }

  get openZones(): number {
    return this.open;
  }

  get activeZones(): number {
    return this.active;
  }

  private set(zone: number, s: number): void {
    const was = this.state[zone];
    this.open += Number(OPEN.has(s)) - Number(OPEN.has(was));
    this.active += Number(ACTIVE.has(s)) - Number(ACTIVE.has(was));
    this.state[zone] = s;
    if (s === Z.ZS_EMPTY) this.fill[zone] = 0;
  }

  /** The resources opening `zone` needs: a status when they are not free. */
  private canOpen(zone: number): Status {
    const s = this.state[zone];
    const { maxActive, maxOpen } = this.geometry;
    if (s === Z.ZS_EMPTY && maxActive && this.active >= maxActive) return TOO_MANY_ACTIVE_ZONES;
    if (!OPEN.has(s) && maxOpen && this.open >= maxOpen) return TOO_MANY_OPEN_ZONES;
    return SUCCESS;
  }

  /** Reads of [slba, slba + nlb): Zone Is Offline, or Zone Boundary Error across zones when reads may not cross them. */
  checkRead(slba: number, nlb: number): Status {
    if (nlb === 0) return SUCCESS;
    const first = this.zoneOf(slba);
    const last = this.zoneOf(slba + nlb - 1);
    if (first !== last && !this.geometry.crossZoneReads) return ZONE_BOUNDARY_ERROR;
    for (let z = first; z <= last; z++) if (this.state[z] === Z.ZS_OFFLINE) return ZONE_IS_OFFLINE;
    return SUCCESS;
  }

  /**
   * A write of `nlb` blocks at `slba` (a Write or Write Zeroes: at the write pointer), or a Zone
   * Append to the zone starting at `slba` (at its write pointer): the LBA it writes at, or why not.
   */
  checkWrite(slba: number, nlb: number, append: boolean): { status: Status; at: number } {
    const zone = this.zoneOf(slba);
    const refuse = (status: Status) => ({ status, at: -1 });
    if (zone >= this.count || (append && slba !== zone * this.zoneBlocks)) return refuse(INVALID_FIELD);
    const s = this.state[zone];
    if (s === Z.ZS_FULL) return refuse(ZONE_IS_FULL);
    if (s === Z.ZS_READ_ONLY) return refuse(ZONE_IS_READ_ONLY);
    if (s === Z.ZS_OFFLINE) return refuse(ZONE_IS_OFFLINE);
    const at = this.wp(zone);
    if (!append && slba !== at) return refuse(ZONE_INVALID_WRITE);
    if (at + nlb > zone * this.zoneBlocks + this.capacityBlocks) return refuse(ZONE_BOUNDARY_ERROR);
    return { status: this.canOpen(zone), at };
  }

  /** Commits a write checkWrite accepted: the zone opens implicitly and fills up. */
  wrote(lba: number, nlb: number): void {
    const zone = this.zoneOf(lba);
    if (!OPEN.has(this.state[zone])) this.set(zone, Z.ZS_IMPLICITLY_OPENED);
    this.fill[zone] += nlb * 2 ** this.shift;
    if (this.fill[zone] >= this.geometry.capacityBytes) this.set(zone, Z.ZS_FULL);
  }

  /**
   * Zone Management Send `action` on the zone starting at `slba`, or with `all` on every zone it
   * applies to. Returns its status and the byte ranges a reset leaves to erase.
   */
  manage(action: number, slba: number, all: boolean): { status: Status; erase: ByteRange[] } {
    const erase: ByteRange[] = [];
    const selected = SELECT_ALL.get(action);
    if (!selected) return { status: INVALID_FIELD, erase };
    if (!all) {
      const zone = this.zoneOf(slba);
      if (zone >= this.count || slba !== zone * this.zoneBlocks) return { status: INVALID_FIELD, erase };
      return { status: this.transition(zone, action, erase), erase };
    }
    const zones = [...this.state.keys()].filter((z) => selected.has(this.state[z]));
    // Opening all closed zones needs an open resource for each, or none is opened.
    if (action === Z.ZSA_OPEN && this.geometry.maxOpen && this.open + zones.length > this.geometry.maxOpen) return { status: TOO_MANY_OPEN_ZONES, erase };
    for (const z of zones) this.transition(z, action, erase);
    return { status: SUCCESS, erase };
  }

  /** One zone's transition for a Zone Management Send action. */
  private transition(zone: number, action: number, erase: ByteRange[]): Status {
    const s = this.state[zone];
    if (s === Z.ZS_READ_ONLY && action === Z.ZSA_OFFLINE) return this.set(zone, Z.ZS_OFFLINE), SUCCESS;
    if (s === Z.ZS_READ_ONLY || s === Z.ZS_OFFLINE || action === Z.ZSA_OFFLINE) return INVALID_ZONE_STATE_TRANSITION;
    switch (action) {
      case Z.ZSA_OPEN: {
        if (s === Z.ZS_FULL) return INVALID_ZONE_STATE_TRANSITION;
        const can = this.canOpen(zone);
        if (can === SUCCESS) this.set(zone, Z.ZS_EXPLICITLY_OPENED);
        return can;
      }
      case Z.ZSA_CLOSE:
        if (s === Z.ZS_CLOSED) return SUCCESS;
        if (!OPEN.has(s)) return INVALID_ZONE_STATE_TRANSITION;
        // An open zone nothing was written to holds nothing: it goes back to empty.
        this.set(zone, this.fill[zone] === 0 ? Z.ZS_EMPTY : Z.ZS_CLOSED);
        return SUCCESS;
      case Z.ZSA_FINISH:
        if (s === Z.ZS_EMPTY && this.geometry.maxActive && this.active >= this.geometry.maxActive) return TOO_MANY_ACTIVE_ZONES;
        this.set(zone, Z.ZS_FULL);
        return SUCCESS;
      default: // reset
        if (s !== Z.ZS_EMPTY) erase.push([zone * this.geometry.zoneBytes, this.geometry.zoneBytes]);
        this.set(zone, Z.ZS_EMPTY);
        return SUCCESS;
    }
  }

  /** Marks `zone` read only (the medium wore out there): the host's or a test's doing, never the guest's. */
  setReadOnly(zone: number): void {
    if (zone >= 0 && zone < this.count && this.state[zone] !== Z.ZS_OFFLINE) this.set(zone, Z.ZS_READ_ONLY);
  }

  /** Every zone empty again, but those read only or offline (a format or sanitize erased the namespace). */
  resetAll(): void {
    for (let z = 0; z < this.count; z++) if (this.state[z] !== Z.ZS_READ_ONLY && this.state[z] !== Z.ZS_OFFLINE) this.set(z, Z.ZS_EMPTY);
  }

  /** A controller reset: open zones are closed (or empty, when nothing was written to them). */
  controllerReset(): void {
    for (let z = 0; z < this.count; z++) if (OPEN.has(this.state[z])) this.set(z, this.fill[z] === 0 ? Z.ZS_EMPTY : Z.ZS_CLOSED);
  }

  /**
   * Report Zones from the zone holding `slba`: the zones matching `filter` (ZRASF) as a report of
   * `bytes` bytes; Number of Zones counts those in the report (`partial`) or all that match.
   */
  report(slba: number, filter: number, partial: boolean, bytes: number): Uint8Array | Status {
    const want = filter === Z.ZRASF_ALL ? undefined : FILTER.get(filter);
    if (filter !== Z.ZRASF_ALL && want === undefined) return INVALID_FIELD;
    const out = new Uint8Array(bytes);
    const dv = new DataView(out.buffer);
    const room = Math.max(0, Math.floor((bytes - Z.REPORT_HEADER_SIZE) / Z.ZONE_DESCRIPTOR_SIZE));
    let matched = 0;
    let listed = 0;
    for (let z = this.zoneOf(slba); z < this.count; z++) {
      if (want !== undefined && this.state[z] !== want) continue;
      matched++;
      if (listed === room) {
        if (partial) break;
        continue;
      }
      this.descriptor(dv, Z.REPORT_HEADER_SIZE + listed++ * Z.ZONE_DESCRIPTOR_SIZE, z);
    }
    if (bytes >= 8) putU64(dv, 0, partial ? listed : matched);
    return out;
  }

  private descriptor(dv: DataView, off: number, z: number): void {
    const start = z * this.zoneBlocks;
    dv.setUint8(off + Z.ZD_ZT, Z.ZONE_TYPE_SEQ_WRITE_REQUIRED);
    dv.setUint8(off + Z.ZD_ZS, this.state[z] << Z.ZS_SHIFT);
    putU64(dv, off + Z.ZD_ZCAP, this.capacityBlocks);
    putU64(dv, off + Z.ZD_ZSLBA, start);
    // Full, read-only and offline zones have no meaningful write pointer: all ones, as the spec has it.
    const noWp = this.state[z] === Z.ZS_FULL || this.state[z] === Z.ZS_READ_ONLY || this.state[z] === Z.ZS_OFFLINE;
    if (noWp) {
      dv.setUint32(off + Z.ZD_WP, 0xffffffff, true);
      dv.setUint32(off + Z.ZD_WP + 4, 0xffffffff, true);
    } else putU64(dv, off + Z.ZD_WP, this.wp(z));
  }

  save(): SavedZones {
    return { state: [...this.state], fill: [...this.fill] };
  }

  /** Checks saved zones as untrusted input against this geometry; throws naming what is wrong. */
  check(saved: unknown, what: string): SavedZones {
    const s = saved as Partial<SavedZones> | null;
    if (!s || !Array.isArray(s.state) || !Array.isArray(s.fill) || s.state.length !== this.count || s.fill.length !== this.count) {
      throw new Error(`${what}: zones missing or not ${this.count}`);
    }
    let open = 0;
    let active = 0;
    for (let z = 0; z < this.count; z++) {
      const st = s.state[z];
      const f = s.fill[z];
      if (!STATES.has(st)) throw new Error(`${what}: zone ${z} is in state ${String(st)}`);
      if (!Number.isSafeInteger(f) || f < 0 || f % 512 !== 0 || f > this.geometry.capacityBytes || (st === Z.ZS_EMPTY && f !== 0)
        || (ACTIVE.has(st) && f === this.geometry.capacityBytes)) throw new Error(`${what}: zone ${z} has its write pointer ${String(f)} bytes in`);
      open += Number(OPEN.has(st));
      active += Number(ACTIVE.has(st));
    }
    const { maxOpen, maxActive } = this.geometry;
    if ((maxOpen && open > maxOpen) || (maxActive && active > maxActive)) throw new Error(`${what}: ${open} open and ${active} active zones (at most ${maxOpen || "any"} and ${maxActive || "any"})`);
    return { state: s.state, fill: s.fill };
  }

  restore(s: SavedZones): void {
    for (let z = 0; z < this.count; z++) {
      this.set(z, s.state[z]);
      this.fill[z] = s.fill[z];
    }
  }
}

/** The states of the zones Select All applies each action to. */
const SELECT_ALL: ReadonlyMap<number, ReadonlySet<number>> = new Map([
  [Z.ZSA_OPEN, new Set([Z.ZS_CLOSED])],
  [Z.ZSA_CLOSE, OPEN],
  [Z.ZSA_FINISH, ACTIVE],
  [Z.ZSA_RESET, new Set([...ACTIVE, Z.ZS_FULL])],
  [Z.ZSA_OFFLINE, new Set([Z.ZS_READ_ONLY])],
]);

function putU64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v >>> 0, true);
  dv.setUint32(off + 4, Math.floor(v / 2 ** 32) >>> 0, true);
}
