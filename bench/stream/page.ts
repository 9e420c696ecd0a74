// The streaming benchmark's page (bench/stream/page.html, served by vite), driven by run.ts through
// Playwright: window.streamPage.boot(options) boots the image at an HTTP URL lazily, either as
// v86's own async IDE disk (`hda: { url, async: true, size }`, through SeaBIOS's IDE path) or as
// this project's HttpBackend behind the NVMe controller, and resolves at the shell prompt with
// what the guest read: every read is seen on the page side (v86's disk buffer's `get`, or a
// wrapper around the NVMe namespace's backend), so bytes fetched but never read and the time the
// guest waited for disk reads can be told apart from what the network carried.

import { V86 } from "v86";
import v86WasmUrl from "v86/build/v86.wasm?url";
import { attachNvme, HttpBackend, type BlockBackend, type HttpDiskOptions } from "../../src/index.ts";
import { fetchWithProgress } from "../../src/app/loader.ts";
import { stopMachine } from "../../src/app/machine.ts";
import type { BootResult, StreamBoot } from "./plan.ts";

const PROMPT = "guest# ";
const ROOT_READY = "V86NVME-ROOT-READY";
const INITRAMFS_SHELL = "V86NVME-INITRAMFS-SHELL";
const MEMORY = 256 << 20;

/** The guest's reads: which 512-byte sectors it read, when, and how long it waited for them. */
class ReadLog {
  private readonly seen: Uint8Array;
  reads = 0;
  bytes = 0;
  distinctBytes = 0;
  lastReadAt = 0;
  private pending = 0;
  private waitFrom = 0;
  waitMs = 0;

  constructor(
    size: number,
    private readonly t0: () => number,
  ) {
    this.seen = new Uint8Array(Math.ceil(size / 512 / 8));
  }

  read(offset: number, length: number): void {
    this.reads++;
    this.bytes += length;
    this.lastReadAt = performance.now() - this.t0();
    for (let s = Math.floor(offset / 512), end = Math.ceil((offset + length) / 512); s < end; s++) {
      const bit = 1 << (s & 7);
      if (!(this.seen[s >> 3] & bit)) {
        this.seen[s >> 3] |= bit;
        this.distinctBytes += 512;
      }
    }
  }

  /** A read the guest must wait for began; the returned function ends it. */
  wait(): () => void {
    if (this.pending++ === 0) this.waitFrom = performance.now();
    return () => {
      if (--this.pending === 0) this.waitMs += performance.now() - this.waitFrom;
      this.lastReadAt = performance.now() - this.t0();
    };
  }
}

/** The namespace's backend with every read noted. */
function tracked(b: BlockBackend, log: ReadLog): BlockBackend {
  return {
    get byteLength() {
      return b.byteLength;
    },
    get volatileWriteCache() {
      return b.volatileWriteCache;
    },
    get discardZeroes() {
      return b.discardZeroes;
    },
    tryRead(offset, dst) {
      const hit = b.tryRead(offset, dst);
      if (hit) log.read(offset, dst.length);
      return hit;
    },
    async read(offset, length) {
      log.read(offset, length);
      const done = log.wait();
      try {
        return await b.read(offset, length);
      } finally {
        done();
      }
    },
    write: (o, s, f) => b.write(o, s, f),
    flush: () => b.flush(),
    discard: (o, l) => b.discard(o, l),
    writeZeroes: (o, l) => b.writeZeroes(o, l),
  };
}

interface V86Buffer {
  get(offset: number, len: number, fn: (data: Uint8Array) => void, options?: unknown): void;
}

/** v86's async disk buffer (IDE primary master) with every read noted; called before the guest runs. */
function trackIde(emulator: V86, log: ReadLog): void {
  const buffer = (emulator as unknown as { v86?: { cpu?: { devices?: { ide?: { primary?: { master?: { buffer?: V86Buffer } } } } } } }).v86?.cpu?.devices?.ide?.primary
    ?.master?.buffer;
  if (!buffer?.get) throw new Error("v86's IDE disk buffer is not where this page looks for it (v86.cpu.devices.ide.primary.master.buffer)");
  const get = buffer.get.bind(buffer);
  buffer.get = (offset, len, fn, options) => {
    log.read(offset, len);
    let called = false;
    let done: (() => void) | undefined;
    get(
      offset,
      len,
      (data) => {
        called = true;
        done?.();
        fn(data);
      },
      options,
    );
    // No answer yet: the guest waits for the network.
    if (!called) done = log.wait();
  };
}

async function boot(o: StreamBoot): Promise<BootResult> {
  const [bios, vgaBios] = await Promise.all([fetchWithProgress("/bios/bios-256k.bin"), fetchWithProgress("/bios/vgabios-stdvga.bin")]);
  let runAt = 0;
  const log = new ReadLog(o.size, () => runAt);
  let drive: HttpBackend | undefined;
  if (o.variant !== "ide") {
    // `bootTrace` comes with the boot-trace prefetch; a backend without it ignores the option.
    const options: HttpDiskOptions & { bootTrace?: string | false } = { size: o.size, bootTrace: o.variant === "nvme-trace" ? undefined : false };
    drive = await HttpBackend.open(o.url, options);
  }
  const emulator = new V86({
    wasm_path: v86WasmUrl,
    bios: { buffer: bios },
    vga_bios: { buffer: vgaBios },
    memory_size: MEMORY,
    autostart: false,
    disable_mouse: true,
    disable_speaker: true,
    ...(o.variant === "ide" ? { hda: { url: o.url, async: true, size: o.size } } : {}),
  } as never);
  let text = "";
  const bytes = new Uint8Array(1);
  const utf8 = new TextDecoder();
  emulator.add_listener("serial0-output-byte", (b: number) => {
    bytes[0] = b;
    text += utf8.decode(bytes, { stream: true });
  });
  await new Promise<void>((resolve, reject) => {
    emulator.add_listener("emulator-loaded", async () => {
      try {
        if (drive) await attachNvme(emulator, { drive: tracked(drive, log), serial: "STREAM0001" });
        else trackIde(emulator, log);
        runAt = performance.now();
        await emulator.run();
        resolve();
      } catch (e) {
        reject(e);
      }
    });
  });
  const until = runAt + o.timeoutMs;
  const marks: Record<string, number> = {};
  /** Bytes the NVMe disk had fetched when each marker appeared (how far prefetching was ahead). */
  const fetchedAt: Record<string, number> = {};
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    const now = performance.now() - runAt;
    for (const m of o.markers) {
      if (marks[m] !== undefined || !text.includes(m)) continue;
      marks[m] = now;
      if (drive) fetchedAt[m] = drive.stats.bytesFetched;
    }
    if (text.includes(INITRAMFS_SHELL)) throw new Error(`the initramfs could not mount the root file system\n${text.slice(-2000)}`);
    const ready = text.indexOf(ROOT_READY);
    if (ready >= 0 && text.indexOf(PROMPT, ready) > 0) break;
    if (performance.now() > until) throw new Error(`no shell prompt within ${o.timeoutMs} ms\n${text.slice(-2000)}`);
  }
  const bootMs = performance.now() - runAt;
  await stopMachine(emulator);
  const stats = drive?.stats;
  return {
    bootMs,
    lastReadMs: log.lastReadAt,
    waitMs: log.waitMs,
    reads: log.reads,
    readBytes: log.bytes,
    distinctReadBytes: log.distinctBytes,
    marks,
    fetchedAt,
    serialTail: text.slice(-600),
    backend: stats ? { ...stats } : undefined,
  };
}

declare global {
  interface Window {
    streamPage?: { boot(o: StreamBoot): Promise<BootResult> };
  }
}
window.streamPage = { boot };
