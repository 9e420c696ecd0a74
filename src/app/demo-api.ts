// window.nvmeDemo: what the page exposes to tests (e2e/browser/) and to the devtools console.

import type { V86 } from "v86";
import type { DoorbellPolicy, NvmeV86 } from "../index.ts";
import type { SerialConsole } from "./console.ts";
import { diskUsage, type DiskChoice, type OpenDisk } from "./disk.ts";
import type { Counters, StatsPanel } from "./stats.ts";
import type { NamespacePanel, NamespaceRow } from "./namespaces-panel.ts";

export type DemoState = "loading" | "booting" | "running" | "idle" | "error";

export interface DiskInfo {
  /** Display name of the image. */
  name: string;
  byteLength: number;
  persistent: boolean;
  /** The persistent disk's name in the origin private file system. */
  persistentName?: string;
  /** What the namespace reports as its Volatile Write Cache. */
  volatileWriteCache: boolean;
  /** How the image is read. */
  how: string;
}

export interface NvmeDemo {
  emulator: V86 | undefined;
  nvme: NvmeV86 | undefined;
  state: DemoState;
  error?: string;
  /** Name of the booted image. */
  image: string;
  /** The disk in use. */
  disk: DiskInfo | undefined;
  /** True while an export runs (the guest is paused meanwhile). */
  exporting: boolean;
  /** Boots started since the page loaded. */
  boots: number;
  /** Whether the running guest was resumed from the bundled image's saved state. */
  resumed: boolean;
  /** Time to the shell prompt of the last boot, ms (from the page's opening for its first boot); undefined until then. */
  promptMs?: number;
  /** When the last boot's steps ended, ms since the page opened (what the prompt time is made of). */
  timings: Record<string, number>;
  serialText(): string;
  send(text: string): void;
  counters(): Counters;
  /** The choice the disk controls show now (what "Boot this disk" boots). */
  choice(): DiskChoice;
  /** Where the disk's bytes are now (see disk.ts); undefined while no disk is open. */
  diskUsage(): ReturnType<typeof diskUsage> | undefined;
  /** Labels of the switch markers on the charts, oldest first. */
  marks(): string[];
  /** What the live charts show. */
  charts(): ReturnType<StatsPanel["charts"]["snapshot"]>;
  /** The controller's namespaces as the page lists them. */
  namespaces(): NamespaceRow[];
  /** The controller's current shadow doorbell policy and interrupt coalescing. */
  device(): { policy: DoorbellPolicy; coalescing: { threshold: number; time: number } } | undefined;
}

declare global {
  interface Window {
    nvmeDemo: NvmeDemo;
  }
}

/** The API over the page's parts; main.ts keeps its fields up to date as boots go. */
export function createDemo(page: {
  serial: SerialConsole;
  stats: StatsPanel;
  choice(): DiskChoice;
  disk(): OpenDisk | undefined;
  namespaces: NamespacePanel;
}): NvmeDemo {
  const demo: NvmeDemo = {
    emulator: undefined,
    nvme: undefined,
    state: "loading",
    image: "disk.img",
    disk: undefined,
    exporting: false,
    boots: 0,
    resumed: false,
    timings: {},
    serialText: () => page.serial.raw,
    send: (text) => page.serial.send(text),
    counters: () => {
      const n = demo.nvme;
      return n ? { ...n.counters, ...n.controller.counters } : {};
    },
    choice: () => page.choice(),
    diskUsage: () => {
      const d = page.disk();
      return d ? diskUsage(d) : undefined;
    },
    charts: () => page.stats.charts.snapshot(),
    namespaces: () => page.namespaces.rows(),
    marks: () => page.stats.charts.marks.map((m) => m.label),
    device: () => {
      const c = demo.nvme?.controller;
      return c ? { policy: c.doorbellPolicy, coalescing: c.interruptCoalescing } : undefined;
    },
  };
  return demo;
}

/** What `disk` says about an open disk. */
export function diskInfo(disk: OpenDisk): DiskInfo {
  return {
    name: disk.name,
    byteLength: disk.backend.byteLength,
    persistent: !!disk.opfs,
    persistentName: disk.persistentName,
    volatileWriteCache: disk.backend.volatileWriteCache,
    how: disk.how,
  };
}
