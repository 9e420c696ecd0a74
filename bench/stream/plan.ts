// What the streaming benchmark measures: its links, disk variants and the shapes the page and the
// runner exchange.

import type { LinkSpec } from "./throttle.ts";

/** "local" is nginx itself, no proxy. */
export const LINKS: (LinkSpec & { local?: boolean })[] = [
  { name: "local", rttMs: 0, mbit: Infinity, local: true },
  { name: "20ms-100mbit", rttMs: 20, mbit: 100 },
  { name: "80ms-20mbit", rttMs: 80, mbit: 20 },
  { name: "150ms-5mbit", rttMs: 150, mbit: 5 },
];
/** The link the targets are stated on. */
export const TARGET_LINK = "80ms-20mbit";

/** v86's own lazy IDE disk; the NVMe HttpBackend without, and with, a boot-trace manifest. */
export const VARIANTS = ["ide", "nvme", "nvme-trace"] as const;
export type Variant = (typeof VARIANTS)[number];

/** What the page is asked to boot. */
export interface StreamBoot {
  variant: Variant;
  /** The image's URL (for "ide" an image whose syslinux boots the "ide" label). */
  url: string;
  size: number;
  timeoutMs: number;
  /** Serial console strings whose first appearance is timed (ms after the emulator started). */
  markers: string[];
}

/** What the page measured, times in ms after the emulator started. */
export interface BootResult {
  /** The root file system's shell prompt. */
  bootMs: number;
  /** The end of the last disk read before the prompt. */
  lastReadMs: number;
  /** Time with at least one guest read waiting for the network. */
  waitMs: number;
  /** Reads the guest issued, their bytes, and the distinct bytes they covered. */
  reads: number;
  readBytes: number;
  distinctReadBytes: number;
  marks: Record<string, number>;
  /** Bytes the NVMe disk had fetched when each marker appeared (NVMe variants). */
  fetchedAt?: Record<string, number>;
  serialTail: string;
  /** The HttpBackend's own counters (NVMe variants). */
  backend?: Record<string, number>;
}
