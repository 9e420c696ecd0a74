// A test machine's memory: a WebAssembly.Memory whose guest RAM window sits between two canary
// regions (like v86, where the emulator's own data lies below and above guest RAM). A device that
// ever stores outside the window breaks a canary.

export const CANARY = 0xa5;

export class GuestMemory {
  readonly memory: WebAssembly.Memory;
  readonly ramBase: number;
  readonly ramSize: number;
  /** End of the memory as created: the device's own pages are grown beyond it. */
  readonly end: number;
  private next: number;

  constructor(ramSize = 4 << 20, below = 1 << 20, above = 1 << 20) {
    const pages = Math.ceil((below + ramSize + above) / 65536);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages + 64 });
    this.ramBase = below;
    this.ramSize = ramSize;
    this.end = pages * 65536;
    const u8 = this.u8();
    u8.fill(CANARY, 0, below);
    u8.fill(CANARY, below + ramSize, pages * 65536);
    this.next = 0x10000; // guest allocations start at 64 KiB
  }

  private viewU8?: Uint8Array;
  private viewDv?: DataView;

  /** Views over the memory, taken again only when it grew (a grown memory detaches the old ones). */
  u8(): Uint8Array {
    if (!this.viewU8 || this.viewU8.buffer.byteLength === 0) this.viewU8 = new Uint8Array(this.memory.buffer);
    return this.viewU8;
  }

  dv(): DataView {
    if (!this.viewDv || this.viewDv.buffer.byteLength === 0) this.viewDv = new DataView(this.memory.buffer);
    return this.viewDv;
  }

  /** Allocates `bytes` of guest RAM aligned to `align`; returns the guest address. */
  alloc(bytes: number, align = 4096): number {
    const a = Math.ceil(this.next / align) * align;
    if (a + bytes > this.ramSize) throw new Error("test guest RAM exhausted");
    this.next = a + bytes;
    this.u8().fill(0, this.ramBase + a, this.ramBase + a + bytes);
    return a;
  }

  read32(addr: number): number {
    return this.dv().getUint32(this.ramBase + addr, true);
  }

  write32(addr: number, v: number): void {
    this.dv().setUint32(this.ramBase + addr, v >>> 0, true);
  }

  write64(addr: number, v: number): void {
    this.write32(addr, v % 2 ** 32);
    this.write32(addr + 4, Math.floor(v / 2 ** 32));
  }

  bytes(addr: number, len: number): Uint8Array {
    return this.u8().slice(this.ramBase + addr, this.ramBase + addr + len);
  }

  fill(addr: number, data: Uint8Array): void {
    this.u8().set(data, this.ramBase + addr);
  }

  /** Offsets outside the RAM window (below the pages devices grew) that lost their canary. */
  brokenCanaries(): number[] {
    const u8 = this.u8();
    const bad: number[] = [];
    for (let i = 0; i < this.ramBase; i++) if (u8[i] !== CANARY) bad.push(i);
    for (let i = this.ramBase + this.ramSize; i < this.end; i++) if (u8[i] !== CANARY) bad.push(i);
    return bad;
  }
}
