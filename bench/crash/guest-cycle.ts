// A Linux guest on a persistent (OPFS) disk through renderer crashes, cheaply: each crash is one
// page of the demo that RESUMES the bundled guest from its saved state (seconds, where a cold boot
// takes about a minute on two cores) and hot-adds the persistent disk as namespace 2. Shared by
// `npm run bench:crash-guest` (bench/crash/guest-run.ts) and e2e/browser/crash-guest.spec.ts.
//
// The disk (prepared once on the host): an MBR with partition 1, an ext4 file system made by the
// host's mke2fs (holding the workload script, w.sh), and partition 2, raw. In each crash
//  - the page turns the controller's volatile write cache on (test harness: the saved state was
//    made over a disk without one, so Linux would treat every namespace as write-through and send
//    neither flushes nor FUA writes), adds the disk as namespace 2, counting the writes, FUA writes
//    and flushes that reach it, and the guest resets its controller: Linux reads Identify again
//    and namespace 2 gets `write back` and `fua 1`;
//  - the guest mounts partition 1 (the kernel replays the journal the last crash left) and writes
//    new files of random bytes with `dd conv=fsync`, printing `ACK <file> <md5>` after each (ext4's
//    journal commits are the FUA writes, after a flush);
//  - beside it, it writes 4 KiB blocks at random places of partition 2 with O_DIRECT and O_DSYNC
//    (FUA writes, each followed by a flush), printing `ACK raw <block> <seq> <md5>` after each. A
//    block holds a 64-byte line naming its write (`RAW c<crash> s<seq> b<block>`) 64 times.
// After a seeded delay the renderer is crashed (CDP Page.crash). A blank page of the same origin
// reads what the disk holds; the host replays the journal only (e2fsck -E journal_only), then
// `e2fsck -fn` must find nothing, every file ever acknowledged must read back with its md5
// (debugfs rdump), and every raw block its last acknowledged md5 or a later write of its own.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "@playwright/test";
import { mulberry32 } from "../../src/rng.ts";
import { plain, runInGuest, serialText, waitForPrompt } from "../../e2e/browser/page-guest.ts";
import { fsck } from "../../e2e/browser/guest-fs-check.ts";
import { blankPage, readAfterCrash } from "./cycle.ts";

const MiB = 1 << 20;
/** The persistent disk: 128 MiB, partition 1 (ext4) from 1 MiB for 96 MiB, partition 2 (raw) after it. */
const DISK_BYTES = 128 * MiB;
const P1 = { offset: MiB, bytes: 96 * MiB };
const P2 = { offset: 97 * MiB, bytes: DISK_BYTES - 97 * MiB };
const RAW_BLOCKS = P2.bytes / 4096;
/** Acknowledgements seen before the seeded delay starts. */
const FIRST_ACKS = 1;
const INDEX = "/src/index.ts";

/** What the crashes so far have promised: every acknowledged file and the last acknowledged version of each raw block. */
export interface Promised {
  files: Map<string, string>;
  raw: Map<number, { md5: string; crash: number; seq: number }>;
}

export interface GuestCrashOutcome {
  crash: number;
  seed: number;
  /** ms after the first acknowledgement. */
  delayMs: number;
  /** Acknowledged before this crash (as far as the console showed). */
  filesAcked: number;
  rawAcked: number;
  /** Over all crashes so far. */
  filesTotal: number;
  rawTotal: number;
  /** Raw blocks reading a later, unacknowledged write of their own (allowed). */
  rawNewer: number;
  /** FUA writes and flushes the disk of namespace 2 received in this crash's page (as far as the last look before the crash). */
  fuaWrites: number;
  /** FUA writes to partition 2. */
  rawFuaWrites: number;
  flushes: number;
  writes: number;
  /** The guest's view of namespace 2's queue: write_cache and fua. */
  queue: string;
  fsck: "clean" | "replayed";
  verdict: "ok" | "BROKEN";
  broken: string[];
  /** MiB the disk holds itself after the crash. */
  storedMiB: number;
  ms: { resume: number; attach: number; run: number; read: number; check: number; total: number };
}

/** The seeded delay after the first acknowledgement: 0.2-6.2 s. */
const delayOf = (seed: number): number => 200 + Math.floor(mulberry32(seed)() * 6000);

/** Runs a host tool: its status and output. */
function tool(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Runs a host tool that must succeed. */
function sh(cmd: string, args: string[]): void {
  const r = tool(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.out}`);
}

/** The disk's bytes: an MBR, a fresh ext4 (the host's mke2fs, everything initialized) and a raw partition of zeros. */
function diskImage(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), "crash-guest-mkfs-"));
  try {
    const fs = join(dir, "p1.img");
    const files = join(dir, "files");
    mkdirSync(files);
    writeFileSync(join(files, "w.sh"), WORKLOAD);
    writeFileSync(fs, Buffer.alloc(0));
    sh("truncate", ["-s", String(P1.bytes), fs]);
    sh("mke2fs", ["-q", "-F", "-t", "ext4", "-L", "crashfs", "-E", "lazy_itable_init=0,lazy_journal_init=0", "-d", files, fs]);
    const disk = Buffer.alloc(DISK_BYTES);
    readFileSync(fs).copy(disk, P1.offset);
    const entry = (n: number, type: number, p: { offset: number; bytes: number }) => {
      const e = 0x1be + (n - 1) * 16;
      disk[e + 4] = type;
      disk.writeUInt32LE(p.offset / 512, e + 8);
      disk.writeUInt32LE(p.bytes / 512, e + 12);
    };
    entry(1, 0x83, P1);
    entry(2, 0xda, P2);
    disk.writeUInt32LE(0x5eed0c6a, 0x1b8); // disk signature
    disk[510] = 0x55;
    disk[511] = 0xaa;
    return disk;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Creates the persistent disk `name` afresh with the bytes of diskImage() (only its non-zero 4 KiB blocks are sent). */
export async function createDisk(context: BrowserContext, base: string, name: string): Promise<void> {
  const image = diskImage();
  const runs: { at: number; b64: string }[] = [];
  const zero = Buffer.alloc(4096);
  for (let at = 0; at < image.length; ) {
    if (image.subarray(at, at + 4096).equals(zero)) {
      at += 4096;
      continue;
    }
    let end = at + 4096;
    while (end < image.length && end - at < MiB && !image.subarray(end, end + 4096).equals(zero)) end += 4096;
    runs.push({ at, b64: image.subarray(at, end).toString("base64") });
    at = end;
  }
  const page = await blankPage(context, base);
  try {
    await page.evaluate(async ([path, name, size, runs]) => {
      const { OpfsBackend } = await import(/* @vite-ignore */ path);
      const disk = await OpfsBackend.open({ name, size, reset: true });
      for (const r of runs) await disk.write(r.at, Uint8Array.from(atob(r.b64), (c) => c.charCodeAt(0)), false);
      await disk.flush();
      await disk.close();
    }, [INDEX, name, DISK_BYTES, runs] as const);
  } finally {
    await page.close();
  }
}

/** Every stored run of the disk `name` from a blank page (throws "open elsewhere" while a crashed renderer holds it), laid over zeros. */
async function readDisk(page: Page, name: string): Promise<{ bytes: Buffer; stored: number }> {
  const { runs, stored } = await page.evaluate(async ([path, name]) => {
    const { OpfsBackend } = await import(/* @vite-ignore */ path);
    const disk = await OpfsBackend.open({ name });
    try {
      const bs: number = disk.blockSize;
      const spans: [number, number, number][] = [];
      disk.map.runs(0, disk.byteLength / bs, (src: number, start: number, n: number) => spans.push([src, start, n]));
      const runs: { at: number; b64: string }[] = [];
      let stored = 0;
      for (const [src, start, n] of spans) {
        if (src !== 1) continue; // only the blocks the disk holds (the rest reads zeros)
        for (let done = 0; done < n * bs; done += 1 << 20) {
          const len = Math.min(1 << 20, n * bs - done);
          const data: Uint8Array = await disk.read(start * bs + done, len);
          let s = "";
          for (let i = 0; i < data.length; i += 0x8000) s += String.fromCharCode(...data.subarray(i, i + 0x8000));
          runs.push({ at: start * bs + done, b64: btoa(s) });
          stored += len;
        }
      }
      return { runs, stored };
    } finally {
      await disk.close();
    }
  }, [INDEX, name] as const);
  const bytes = Buffer.alloc(DISK_BYTES);
  for (const r of runs) Buffer.from(r.b64, "base64").copy(bytes, r.at);
  return { bytes, stored };
}

/** A page of the demo resumed from the saved state, its HMR socket kept local; warnings and errors kept for messages. */
async function resumedPage(context: BrowserContext, base: string): Promise<{ page: Page; said: string[] }> {
  const page = await context.newPage();
  const said: string[] = [];
  page.on("console", (m) => void (["warning", "error"].includes(m.type()) && said.push(`${m.type()}: ${m.text()}`)));
  page.on("pageerror", (e) => void said.push(`page error: ${e.message}`));
  await page.routeWebSocket(/.*/, () => {});
  await page.goto(`${base}/`);
  await waitForPrompt(page, 90_000);
  const { resumed, error } = await page.evaluate(() => ({ resumed: window.nvmeDemo.resumed, error: window.nvmeDemo.error ?? "" }));
  if (error || !resumed) throw new Error(`the page did not resume the saved state: ${error || "it booted cold"}\n${said.join("\n")}`);
  return { page, said };
}

/**
 * Turns the controller's volatile write cache on (test harness: the saved state's controller has
 * none), adds the persistent disk `name` as namespace 2 (its writes, FUA writes and flushes
 * counted), resets the controller from the guest so that Linux reads Identify again and gives
 * namespace 2 a write-back cache with FUA, and mounts partition 1 on /mnt/cg (the kernel replays
 * the journal). Returns the guest's view of namespace 2's queue ("write back, fua 1").
 */
async function attachDisk(page: Page, name: string): Promise<string> {
  await page.evaluate(async ([path, name, raw]) => {
    const { OpfsBackend } = await import(/* @vite-ignore */ path);
    (window.nvmeDemo.nvme!.controller.config as { volatileWriteCache: boolean }).volatileWriteCache = true;
    const disk = await OpfsBackend.open({ name });
    const count = { writes: 0, fua: 0, rawFua: 0, flushes: 0 };
    const counted = new Proxy(disk, {
      get(t, p) {
        if (p === "write") return (o: number, s: Uint8Array, fua: boolean) => (count.writes++, fua && count.fua++, fua && o >= raw && count.rawFua++, t.write(o, s, fua));
        if (p === "flush") return () => (count.flushes++, t.flush());
        const v = Reflect.get(t, p, t);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
    (window as unknown as { crashDisk: unknown }).crashDisk = { counted, count };
  }, [INDEX, name, P2.offset] as const);
  const nsid = await page.evaluate(() => {
    const { counted } = (window as unknown as { crashDisk: { counted: never } }).crashDisk;
    return window.nvmeDemo.nvme!.addNamespace({ backend: counted });
  });
  if (nsid !== 2) throw new Error(`the disk became namespace ${nsid}, not 2`);
  // The reset's scan finds namespace 2 too (if the notice of its adding did not already).
  const q = await runInGuest(page,
    "echo 1 >/sys/class/nvme/nvme0/reset_controller; for i in $(seq 300); do [ -b /dev/nvme0n2p2 ] && grep -q back /sys/block/nvme0n2/queue/write_cache && break; sleep 0.1; done; " +
    "echo $(cat /sys/block/nvme0n2/queue/write_cache), fua $(cat /sys/block/nvme0n2/queue/fua); mkdir -p /mnt/cg && mount -t ext4 /dev/nvme0n2p1 /mnt/cg", 60_000);
  if (q.status !== 0 || !/^write back, fua 1$/.test(q.out)) throw new Error(`namespace 2: "${q.out}" (status ${q.status}), not write back with FUA and mounted`);
  return q.out;
}

/**
 * The guest's workloads, a script on the disk's file system (typing it over the serial console
 * would take seconds each crash): `sh /mnt/cg/w.sh <crash>` writes files under /mnt/cg/cg/c<crash>
 * (/cg/c<crash> in the file system) and 4 KiB blocks to partition 2, both in the background.
 * The raw blocks are O_DIRECT + O_DSYNC writes (GNU dd's oflag=direct,dsync, called by its path:
 * the busybox shell runs its own dd applet for a bare `dd`): Linux sends each as a write with
 * Force Unit Access and then, for the O_DSYNC, a flush.
 */
const WORKLOAD = `c=$1; d=/mnt/cg/cg/c$c; mkdir -p $d
(i=0; while :; do i=$((i+1)); f=$d/f$i
  dd if=/dev/urandom of=$f bs=1k count=$((1 + RANDOM % 32)) conv=fsync 2>/dev/null || break
  echo "ACK c$c/f$i $(md5sum < $f | cut -c1-32)"; done) &
(s=0; while :; do s=$((s+1)); b=$(( (RANDOM * 32768 + RANDOM) % ${RAW_BLOCKS} ))
  l=$(printf '%-63s' "RAW c$c s$s b$b"); yes "$l" | head -c 4096 > /tmp/rawblock; m=$(md5sum < /tmp/rawblock | cut -c1-32)
  /bin/dd if=/tmp/rawblock of=/dev/nvme0n2p2 bs=4096 seek=$b count=1 oflag=direct,dsync conv=notrunc 2>/dev/null || break
  echo "ACK raw $b $s $m"; done) &
`;

const FILE_ACK = /^ACK (c\d+\/f\d+) ([0-9a-f]{32})$/gm;
const RAW_ACK = /^ACK raw (\d+) (\d+) ([0-9a-f]{32})$/gm;

/** The version a raw block's bytes name, when they are one whole write's (64 times the same line). */
function rawVersion(block: Buffer): { crash: number; seq: number; block: number } | undefined {
  const line = block.subarray(0, 64);
  for (let i = 64; i < 4096; i += 64) if (!block.subarray(i, i + 64).equals(line)) return undefined;
  const m = /^RAW c(\d+) s(\d+) b(\d+) *\n$/.exec(line.toString("latin1"));
  return m ? { crash: Number(m[1]), seq: Number(m[2]), block: Number(m[3]) } : undefined;
}

const md5 = (b: Buffer): string => createHash("md5").update(b).digest("hex");

/** Checks the disk as the crash left it against everything promised so far. */
function check(bytes: Buffer, promised: Promised, work: string): { fsck: "clean" | "replayed"; broken: string[]; rawNewer: number } {
  const broken: string[] = [];
  const file = join(work, "p1.img");
  writeFileSync(file, bytes.subarray(P1.offset, P1.offset + P1.bytes));
  const fs = fsck(file);
  const text = `${fs.replay ? `replay (${fs.replay.status}): ${fs.replay.out}\n` : ""}check (${fs.check.status}): ${fs.check.out}`;
  if ((fs.replay?.status ?? 0) > 1 || fs.check.status !== 0) broken.push(`e2fsck: ${text}`);
  const out = join(work, "dump");
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  tool("debugfs", ["-R", `rdump /cg ${out}`, file]); // a missing /cg shows as missing files below
  for (const [f, sum] of promised.files) {
    const path = join(out, "cg", f);
    let got = "missing";
    try {
      if (statSync(path).isFile()) got = md5(readFileSync(path));
    } catch {
      // missing
    }
    if (got !== sum) broken.push(`file ${f}: acknowledged ${sum}, reads ${got}`);
  }
  let rawNewer = 0;
  for (const [b, want] of promised.raw) {
    const block = bytes.subarray(P2.offset + b * 4096, P2.offset + (b + 1) * 4096);
    if (md5(block) === want.md5) continue;
    const v = rawVersion(block);
    if (v && v.block === b && (v.crash > want.crash || (v.crash === want.crash && v.seq > want.seq))) rawNewer++;
    else broken.push(`raw block ${b}: acknowledged c${want.crash} s${want.seq} (${want.md5}), reads ${v ? `c${v.crash} s${v.seq} b${v.block}` : `other bytes (${md5(block)})`}`);
  }
  rmSync(out, { recursive: true, force: true });
  rmSync(file, { force: true });
  return { fsck: fs.neededRecovery ? "replayed" : "clean", broken, rawNewer };
}

/**
 * One crash: a resumed page, the disk attached and mounted, both workloads until FIRST_ACKS files
 * are acknowledged, the seeded delay, Page.crash, the disk read back and checked. `promised` grows
 * by what this crash acknowledged.
 */
export async function guestCrash(context: BrowserContext, base: string, name: string, crash: number, seed: number, promised: Promised): Promise<GuestCrashOutcome> {
  const t0 = Date.now();
  const delayMs = delayOf(seed);
  const { page, said } = await resumedPage(context, base);
  const tResumed = Date.now();
  const fail = async (e: unknown): Promise<never> => {
    const serial = plain(await serialText(page).catch(() => "")).split("\n").slice(-20).join("\n");
    await page.close().catch(() => {});
    throw new Error(`crash ${crash} (seed ${seed}): ${e instanceof Error ? e.message : String(e)}\nthe page's console:\n${said.slice(-20).join("\n")}\nthe serial console's end:\n${serial}`);
  };
  let queue = "";
  let seen = "";
  let counts = { writes: 0, fua: 0, rawFua: 0, flushes: 0 };
  let tAttached = 0;
  let tRun = 0;
  try {
    queue = await attachDisk(page, name);
    tAttached = Date.now();
    const started = await runInGuest(page, `sh /mnt/cg/w.sh ${crash}`);
    if (started.status !== 0) throw new Error(`the workloads did not start: ${started.out}`);
    const from = (await serialText(page)).length;
    const until = Date.now() + 120_000;
    while ([...plain((await serialText(page)).slice(from)).matchAll(FILE_ACK)].length < FIRST_ACKS) {
      if (Date.now() > until) throw new Error(`fewer than ${FIRST_ACKS} files acknowledged in 120 s`);
      await page.waitForTimeout(100);
    }
    await page.waitForTimeout(delayMs);
    // What the console showed before the crash: these were acknowledged.
    [seen, counts] = await page.evaluate(() => [window.nvmeDemo.serialText(), (window as unknown as { crashDisk: { count: typeof counts } }).crashDisk.count] as const);
    seen = plain(seen.slice(from));
    tRun = Date.now();
  } catch (e) {
    return fail(e);
  }
  const crashed = new Promise<void>((r) => page.once("crash", () => r()));
  void (await context.newCDPSession(page)).send("Page.crash").catch(() => {});
  await crashed;
  await page.close().catch(() => {});
  const tCrash = Date.now();
  let filesAcked = 0;
  let rawAcked = 0;
  for (const m of seen.matchAll(FILE_ACK)) {
    promised.files.set(m[1], m[2]);
    filesAcked++;
  }
  for (const m of seen.matchAll(RAW_ACK)) {
    promised.raw.set(Number(m[1]), { md5: m[3], crash, seq: Number(m[2]) });
    rawAcked++;
  }
  const { value: read, lastError } = await readAfterCrash(context, base, (reader) => readDisk(reader, name));
  if (!read) throw new Error(`crash ${crash} (seed ${seed}): cannot reopen the disk: ${lastError}`);
  const tRead = Date.now();
  const work = mkdtempSync(join(tmpdir(), "crash-guest-"));
  let verdict;
  try {
    verdict = check(read.bytes, promised, work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const tChecked = Date.now();
  return {
    crash, seed, delayMs, filesAcked, rawAcked, filesTotal: promised.files.size, rawTotal: promised.raw.size, rawNewer: verdict.rawNewer,
    fuaWrites: counts.fua, rawFuaWrites: counts.rawFua, flushes: counts.flushes, writes: counts.writes, queue, fsck: verdict.fsck,
    verdict: verdict.broken.length ? "BROKEN" : "ok", broken: verdict.broken, storedMiB: Math.round((read.stored / MiB) * 10) / 10,
    ms: { resume: tResumed - t0, attach: tAttached - tResumed, run: tRun - tAttached, read: tRead - tCrash, check: tChecked - tRead, total: tChecked - t0 },
  };
}
