// What run.ts needs from a booted guest, wherever its emulator runs: under Node in this process
// (node.ts) or in a Chromium page driven through Playwright (chromium.ts, page.ts). A guest takes
// shell commands typed at its serial console, gives the device counters, switches the doorbell
// policy and reads the instruction sampler (sampler.ts). All methods are async so that the
// Chromium guest can forward them to the page unchanged.
//
// Kept free of Node modules: page.ts imports it too.

import type { DoorbellPolicy } from "../../src/state/options.ts";
import type { NvmeV86 } from "../../src/v86/attach.ts";
import { Sampler, type Window as BusyWindow } from "./sampler.ts";

export interface BootOptions {
  /** Attach the image as NVMe namespace 1. */
  nvme: boolean;
  /** Attach the image as v86's IDE disk (hda). */
  ide: boolean;
  /** syslinux label: "nvme" (the image's default, root /dev/nvme0n1p2) or "ide" (root /dev/sda2). */
  label: "nvme" | "ide";
  /** Zero bytes appended to each disk copy (scratch space for fio on the raw devices). */
  appendBytes: number;
  /** Controller serial number. */
  serial: string;
  /** The attach option shadowDoorbells. */
  shadowDoorbells: boolean;
  bootTimeoutMs: number;
  /** Echo the serial console to stderr. */
  echo: boolean;
  /** Namespace 1 read over HTTP from the dev server (HttpBackend) rather than a copy in page memory (Chromium; no IDE, no appendBytes). */
  rootOverHttp?: boolean;
  /** More NVMe namespaces after the image, nsid 2, 3, … (Chromium only). */
  disks?: ExtraDisk[];
}

/** A blank disk in RAM, a persistent disk in OPFS (created afresh, removed at stop), or an image over HTTP with its overlay's memory budget. */
export type ExtraDisk =
  | { kind: "memory"; size: number }
  | { kind: "opfs"; name: string; size: number }
  | { kind: "http"; url: string; memoryBudget?: number };

/** What a namespace's backend holds in memory and elsewhere, for the memory figures. */
export interface DiskStat {
  nsid: number;
  kind: string;
  /** Overlay bytes in page memory, overlay bytes spilled to OPFS (copy-on-write disks). */
  residentBytes?: number;
  spilledBytes?: number;
  /** HTTP requests and bytes fetched (HTTP disks). */
  requests?: number;
  bytesFetched?: number;
}

/** The page's memory as the browser measures it (performance.measureUserAgentSpecificMemory, after a GC). */
export interface PageMemory {
  /** What that measures: JS heaps of the page and its workers, their array buffers, the DOM. */
  bytes: number;
  /** Of which the page's own context (the rest: workers, shared). */
  page: number;
  /** v86's WebAssembly memory (guest RAM and the emulator's tables) as allocated, which Chromium's measure leaves out. */
  wasm: number;
  /** What the overlay caches and buffers hold by their own count ([] where not known). */
  disks: DiskStat[];
}

export interface RunResult {
  out: string;
  status: number;
}

export interface Counters {
  adapter: Record<string, number>;
  controller: Record<string, number>;
}

export interface BenchGuest {
  /** Milliseconds from emulator.run() to the first shell prompt of the root file system. */
  readonly runToPromptMs: number;
  /** Types `cmd` at the prompt; resolves with its output and exit status. */
  run(cmd: string, timeoutMs?: number): Promise<RunResult>;
  /** Copies of the adapter's and the controller's counters (throws without NVMe). */
  counters(): Promise<Counters>;
  doorbellPolicy(): Promise<DoorbellPolicy>;
  setDoorbellPolicy(policy: DoorbellPolicy): Promise<void>;
  /** The sampler's mark(), busyWindow(), since(), instructions(); sample() takes a sample now. */
  mark(): Promise<number>;
  sample(): Promise<void>;
  busyWindow(from: number, disk: "nvme" | "ide"): Promise<BusyWindow | undefined>;
  since(from: number): Promise<number>;
  instructions(): Promise<number>;
  /** The last lines of the serial console, for failure messages. */
  tail(lines?: number): Promise<string>;
  /** The namespaces' memory and traffic figures ([] where not known). */
  diskStats(): Promise<DiskStat[]>;
  /** The page's memory, where it can be measured (a cross-origin isolated page); else undefined. */
  memory(): Promise<PageMemory | undefined>;
  /** Stops the emulator and releases the guest. */
  stop(): Promise<void>;
}

/** Where guests boot: this Node process, or headless Chromium. */
export interface Platform {
  /** "node" or "chromium" (names the result files). */
  readonly name: string;
  /** What runs the emulator, for the report, e.g. "Node v20.20.2" or "Chromium 150.0.7871.100 (headless)". */
  readonly runtime: string;
  boot(options: BootOptions): Promise<BenchGuest>;
  /** CPU seconds used so far by the host process(es) running the emulator, all threads. */
  cpuSeconds(): number;
  close(): Promise<void>;
}

/** Like run() but rejects when the exit status is not 0. */
export async function ok(g: BenchGuest, cmd: string, timeoutMs = 60_000): Promise<string> {
  const r = await g.run(cmd, timeoutMs);
  if (r.status !== 0) throw new Error(`\`${cmd}\` exited with ${r.status}:\n${r.out}\n--- serial tail ---\n${await g.tail(40)}`);
  return r.out;
}

/** Starts sampling a just-created emulator; `nvme()` gives the attachment once there is one. */
export function startSampler(emulator: unknown, nvme: () => NvmeV86 | undefined): Sampler {
  return new Sampler(emulator, () => {
    const c = nvme()?.controller.counters;
    return c ? c.readCommands + c.writeCommands : 0;
  }).start();
}

/** A guest in the process that runs its emulator. */
export interface LocalParts {
  runToPromptMs: number;
  nvme: NvmeV86 | undefined;
  sampler: Sampler;
  run(cmd: string, timeoutMs: number): Promise<RunResult>;
  tail(lines: number): string;
  diskStats?(): DiskStat[];
  memory?(): Promise<PageMemory | undefined>;
  stop(): Promise<void>;
}

export function localGuest(p: LocalParts): BenchGuest {
  const nvme = (): NvmeV86 => {
    if (!p.nvme) throw new Error("this guest has no NVMe controller");
    return p.nvme;
  };
  const s = p.sampler;
  return {
    runToPromptMs: p.runToPromptMs,
    run: (cmd, timeoutMs = 60_000) => p.run(cmd, timeoutMs),
    counters: async () => ({
      adapter: { ...nvme().counters, jitCompiles: s.jitCompiles, jitClears: s.jitClears } as unknown as Record<string, number>,
      controller: { ...nvme().controller.counters },
    }),
    doorbellPolicy: async () => nvme().controller.doorbellPolicy,
    setDoorbellPolicy: async (policy) => nvme().controller.setDoorbellPolicy(policy),
    mark: async () => s.mark(),
    sample: async () => void s.sample(),
    busyWindow: async (from, disk) => s.busyWindow(from, disk),
    since: async (from) => s.since(from),
    instructions: async () => s.instructions(),
    tail: async (lines = 40) => p.tail(lines),
    diskStats: async () => p.diskStats?.() ?? [],
    memory: async () => p.memory?.(),
    stop: async () => {
      s.stop();
      await p.stop();
    },
  };
}

declare global {
  interface Window {
    /** bench/guest/page.ts: boots a guest, resolves with its runToPromptMs once at the shell. */
    benchPage?: { boot(options: BootOptions): Promise<number> };
    /** The guest page.ts booted. */
    benchGuest?: BenchGuest;
    /** Set by chromium.ts: serial console text for --echo. */
    benchEcho?: (text: string) => void;
  }
}
