// The guest benchmark's page (bench/guest/page.html, served by vite from the project root), driven
// by chromium.ts through Playwright. window.benchPage.boot(options) fetches /guest/disk.img (vite
// serves public/), makes a copy + appended zeros for each disk it attaches (v86's IDE hda, our
// NVMe namespace 1), boots v86 with SeaBIOS, waits for the root file system's shell prompt and
// exposes the guest as window.benchGuest (host.ts's BenchGuest: commands typed at the serial
// console, device counters, the instruction sampler). No screen and no mouse, like the Node runs;
// one boot per page.

import { V86 } from "v86";
import v86WasmUrl from "v86/build/v86.wasm?url";
import type { BlockBackend } from "../../src/backends/block-backend.ts";
import { HttpBackend } from "../../src/backends/http.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { openDisk } from "../../src/backends/open.ts";
import { OpfsBackend } from "../../src/backends/opfs.ts";
import { CowBackend } from "../../src/backends/cow-disk.ts";
import { fetchWithProgress } from "../../src/app/loader.ts";
import { MEMORY_SIZE, stopMachine } from "../../src/app/machine.ts";
import { attachNvme, type NvmeV86 } from "../../src/v86/attach.ts";
import { selectIdeLabel } from "../../test/project-guest/ide-label.ts";
import { localGuest, startSampler, type BootOptions, type DiskStat, type ExtraDisk, type RunResult } from "./host.ts";

interface MeasuredMemory {
  bytes: number;
  breakdown: { bytes: number; attribution: { scope: string }[] }[];
}

const PROMPT = "guest# ";
/** What the image's rootfs-init.sh prints once the root file system is mounted. */
const ROOT_READY = "V86NVME-ROOT-READY";
/** What its initramfs prints when it gives up on the root device. */
const INITRAMFS_SHELL = "V86NVME-INITRAMFS-SHELL";

/** Terminal escapes and CRs out (busybox's line editor sends both). */
const plain = (s: string): string => s.replace(/\x1b\[[0-9;?]*[@-~]/g, "").replace(/\x1b[()]?./g, "").replace(/\r/g, "");

/** The serial console as a shell: what the guest printed, and commands with marked output. */
class Shell {
  text = "";
  private readonly waiters = new Set<() => boolean>();
  private scanQueued = false;
  private seq = 0;

  constructor(private readonly emulator: V86, echo: boolean) {
    const utf8 = new TextDecoder();
    const byte = new Uint8Array(1);
    emulator.add_listener("serial0-output-byte", (b: number) => {
      byte[0] = b;
      this.text += utf8.decode(byte, { stream: true });
      if (this.waiters.size && !this.scanQueued) {
        this.scanQueued = true;
        setTimeout(() => this.scan(), 0);
      }
    });
    let echoed = 0;
    if (echo) {
      setInterval(() => {
        if (echoed < this.text.length) window.benchEcho?.(this.text.slice(echoed));
        echoed = this.text.length;
      }, 100);
    }
  }

  private scan(): void {
    this.scanQueued = false;
    for (const w of [...this.waiters]) if (w()) this.waiters.delete(w);
  }

  tail(lines: number): string {
    return plain(this.text).split("\n").slice(-lines).join("\n");
  }

  /** Resolves once `test()` holds, checked as output arrives. */
  waitFor(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = (): boolean => {
        if (!test()) return false;
        clearTimeout(timer);
        resolve();
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n--- serial tail ---\n${this.tail(40)}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  /** Types `cmd`; its output lies between two markers the typed line itself cannot match. */
  async run(cmd: string, timeoutMs: number): Promise<RunResult> {
    const n = ++this.seq;
    const from = this.text.length;
    const start = `__OUT${n}__\n`;
    const end = new RegExp(`__STATUS${n}_(\\d+)__\\n`);
    let result: RunResult | undefined;
    this.emulator.serial0_send(`echo __OUT''${n}__; ${cmd}; echo __STATUS''${n}_$?__\n`);
    try {
      await this.waitFor(
        () => {
          const t = plain(this.text.slice(from));
          const m = end.exec(t);
          if (!m || !t.includes(PROMPT, m.index + m[0].length)) return false;
          const b = t.indexOf(start);
          result = { out: t.slice(b >= 0 && b < m.index ? b + start.length : 0, m.index).replace(/\n$/, ""), status: Number(m[1]) };
          return true;
        },
        timeoutMs,
        `\`${cmd}\` to finish`,
      );
    } catch (e) {
      this.emulator.serial0_send("\x03");
      throw e;
    }
    return result!;
  }
}

/** A namespace after the image (a persistent disk starts afresh each run). */
function openExtraDisk(d: ExtraDisk): Promise<BlockBackend> {
  return openDisk(d.kind === "opfs" ? { ...d, reset: true } : d);
}

function diskStat(nsid: number, d: BlockBackend): DiskStat {
  const cow = d instanceof CowBackend ? d : undefined;
  const http = cow?.base as Partial<HttpBackend> | undefined;
  return {
    nsid,
    kind: d instanceof OpfsBackend ? "opfs" : cow ? "cow" : d instanceof MemoryBackend ? "memory" : "other",
    ...(cow ? { residentBytes: cow.overlay.residentBytes, spilledBytes: cow.overlay.spilledBytes } : {}),
    ...(http?.stats ? { requests: http.stats.requests, bytesFetched: http.stats.bytesFetched } : {}),
  };
}

async function boot(o: BootOptions): Promise<number> {
  if (window.benchGuest) throw new Error("one boot per page");
  if (o.rootOverHttp && (o.ide || o.appendBytes || o.label !== "nvme")) throw new Error("rootOverHttp: namespace 1 is the image as served, without IDE, label or appended bytes");
  const [bios, vgaBios, image] = await Promise.all(
    ["/bios/bios-256k.bin", "/bios/vgabios-stdvga.bin", ...(o.rootOverHttp ? [] : ["/guest/disk.img"])].map((url) => fetchWithProgress(url)),
  );
  let drive: BlockBackend | undefined;
  let hda: Uint8Array | undefined;
  if (o.rootOverHttp) drive = await HttpBackend.open(new URL("/guest/disk.img", location.href).href);
  else {
    const src = new Uint8Array(image);
    if (o.label === "ide") selectIdeLabel(src);
    const size = src.length + o.appendBytes;
    drive = o.nvme ? new MemoryBackend(size, src) : undefined;
    if (o.ide) {
      hda = new Uint8Array(size);
      hda.set(src);
    }
  }
  const disks = await Promise.all((o.disks ?? []).map(openExtraDisk));
  const emulator = new V86({
    wasm_path: v86WasmUrl,
    bios: { buffer: bios },
    vga_bios: { buffer: vgaBios },
    memory_size: MEMORY_SIZE,
    autostart: false,
    disable_mouse: true,
    disable_speaker: true,
    ...(hda ? { hda: { buffer: hda.buffer } } : {}),
  } as never);
  const shell = new Shell(emulator, o.echo);
  let nvme: NvmeV86 | undefined;
  const sampler = startSampler(emulator, () => nvme);
  const stop = async (): Promise<void> => {
    sampler.stop();
    await stopMachine(emulator);
    for (const [i, d] of disks.entries()) {
      const spec = o.disks![i];
      if (d instanceof OpfsBackend || d instanceof CowBackend) await d.close().catch(() => undefined);
      if (spec.kind === "opfs") await OpfsBackend.remove(spec.name).catch(() => undefined);
    }
  };
  let runStartedAt = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      emulator.add_listener("emulator-loaded", async () => {
        try {
          if (drive) {
            nvme = await attachNvme(emulator, {
              namespaces: [drive, ...disks].map((backend) => ({ backend })),
              serial: o.serial,
              shadowDoorbells: o.shadowDoorbells,
              log: (level, msg) => {
                if (level === "warn" || level === "error") shell.text += `\n[host ${level}] ${msg}\n`;
              },
            });
          }
          runStartedAt = performance.now();
          await emulator.run();
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
    const t = (): string => shell.text;
    await shell.waitFor(
      () => t().includes(INITRAMFS_SHELL) || (t().includes(ROOT_READY) && t().lastIndexOf(PROMPT) > t().indexOf(ROOT_READY)),
      o.bootTimeoutMs,
      "the first shell prompt",
    );
    if (t().includes(INITRAMFS_SHELL)) throw new Error(`the initramfs could not mount the root file system\n--- serial tail ---\n${shell.tail(40)}`);
  } catch (e) {
    await stop();
    throw e;
  }
  const runToPromptMs = performance.now() - runStartedAt;
  window.benchGuest = localGuest({
    runToPromptMs,
    nvme,
    sampler,
    run: (cmd, timeoutMs) => shell.run(cmd, timeoutMs),
    tail: (lines) => shell.tail(lines),
    diskStats: () => (drive ? [drive, ...disks].map((d, i) => diskStat(i + 1, d)) : []),
    memory: async () => {
      const measure = (performance as { measureUserAgentSpecificMemory?: () => Promise<MeasuredMemory> }).measureUserAgentSpecificMemory;
      if (!crossOriginIsolated || !measure) return undefined;
      const m = await measure.call(performance);
      const page = m.breakdown.filter((b) => b.attribution.some((a) => a.scope === "Window")).reduce((n, b) => n + b.bytes, 0);
      const wasm = (emulator as unknown as { v86: { cpu: { wasm_memory: WebAssembly.Memory } } }).v86.cpu.wasm_memory.buffer.byteLength;
      return { bytes: m.bytes, page, wasm, disks: drive ? [drive, ...disks].map((d, i) => diskStat(i + 1, d)) : [] };
    },
    stop,
  });
  return runToPromptMs;
}

window.benchPage = { boot };
