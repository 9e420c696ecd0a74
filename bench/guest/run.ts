// Guest benchmark: v86's IDE disk against our NVMe controller, side by side in one run, with the
// same Linux guest under Node or, with --browser, in headless Chromium (issue 5).
//
//   npm run bench:guest [-- --browser --quick --runtime S --only boot|fio ...]   (--help: every flag)
//
// Default: 6 jobs x 20 s, 2 boot-time pairs, about 15 minutes on 2 cores. --quick: 3 jobs
// (4 KiB random read QD 1 and 32, 1 MiB sequential read) x 5 s, one boot-time pair, about 4
// minutes; runs that short are skewed by JIT warm-up, use them as a smoke test. --modes keeps only
// the named modes, in the order named (ide, shadow-on, coalesced, eager, shadow-off; the "shadow
// off" boot only runs for shadow-off), e.g. `--quick --only fio --jobs randread-qd1 --modes
// shadow-on,coalesced` compares QD 1 with and without coalescing in one boot. Before measuring,
// each boot runs two short jobs per measured mode (IDE, NVMe and, when measured, coalescing): the
// first job of a mode in a boot makes v86's JIT compile the guest paths that mode reaches, for
// seconds (a first coalesced 5 s job ran at 20-40 % speed, the next ones at full speed).
// In Chromium (--browser) boots take longer (about 6.5 minutes for --quick on a busy 2-core host).
//
// 1. Boot time to a shell: the image alone as IDE hda (syslinux label "ide", root /dev/sda2) and
//    alone as NVMe namespace 1 (label "nvme", root /dev/nvme0n1p2), alternating, separate boots.
// 2. Boot "shadow on": IDE hda and NVMe (default options: shadow doorbells, doorbell policy
//    "awake") both attached, each its own copy of the image with 256 MiB of zeros appended; root
//    on nvme0n1p2. For every fio job, in turn: IDE, NVMe, NVMe with interrupt coalescing
//    (set-feature 08h in the guest), and for the 4 KiB jobs NVMe with doorbell policy "eager".
// 3. Boot "shadow off": the same with shadowDoorbells: false; for every job: IDE, NVMe.
// fio runs on the raw devices in the appended zeros (see jobs.ts). Per job: fio's IOPS, MB/s,
// mean/p99 latency; device counter deltas around the job divided by fio's I/O count; guest
// instructions per second while the disk was busy (sampler.ts).
//
// The persistent OPFS disk against the in-memory disk is its own benchmark: npm run bench:disks (disks.ts).
//
// --browser: the same plan with every guest in Debian's Chromium (chromium.ts: Playwright's library
// API, vite's dev server, bench/guest/page.html); host.ts is what both kinds of guest offer.
//
// Output: a Markdown table on stdout and in bench/results/guest.md (guest-chromium.md with
// --browser), JSON in guest.json (guest-chromium.json). Progress goes to stderr.

import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fail, parseFlags } from "../../scripts/cli-args.ts";
import { DISK_IMAGE, ROOT } from "../../test/project-guest/image.ts";
import { deviceCommit } from "../device-commit.ts";
import { ok, type BenchGuest, type BootOptions, type Platform } from "./host.ts";
import { FIO_OUT, JOBS, fioLine, parseFio, type FioJob } from "./jobs.ts";
import { nodePlatform } from "./node.ts";
import { renderMarkdown, type BenchReport, type BootTime, type CpuRef, type Row } from "./report.ts";

// ---- arguments ----

const MODES = ["ide", "shadow-on", "coalesced", "eager", "shadow-off"] as const;
type Mode = (typeof MODES)[number];

const QUICK_JOBS = ["randread-qd1", "randread-qd32", "seqread-1m"];

const COMMAND = {
  name: "bench:guest",
  run: "npm run bench:guest --",
  flags: {
    browser: { type: "boolean", help: "every guest in headless Chromium (default: under Node)" },
    quick: { type: "boolean", help: `jobs ${QUICK_JOBS.join(", ")}, 5 s each, 3 s warm-ups, one boot-time pair: a smoke test` },
    runtime: { type: "string", arg: "S", help: "seconds per fio job, >= 1 (default 20; 5 with --quick)" },
    warmup: { type: "string", arg: "S", help: "seconds per warm-up job (default 4; 3 with --quick)" },
    reps: { type: "string", arg: "N", help: "times every job runs in each boot, >= 1 (default 1)" },
    "boot-pairs": { type: "string", arg: "N", help: "IDE/NVMe boot-time pairs, >= 0 (default 2; 1 with --quick)" },
    jobs: { type: "string", arg: "id,id", help: `fio jobs, of ${JOBS.map((j) => j.id).join(", ")} (default all)` },
    modes: { type: "string", arg: "m,m", help: `modes, in this order, of ${MODES.join(", ")} (default all)` },
    coalesce: { type: "string", arg: "THR,TIME", help: "interrupt coalescing of the coalesced mode, two numbers 0..255 (default 7,1: 8 entries, 100 us)" },
    only: { type: "string", arg: "boot|fio", help: "only the boot times, or only the fio boots" },
    out: { type: "string", arg: "DIR", help: "where guest.md and guest.json go (default bench/results)" },
    echo: { type: "boolean", help: "copy the guests' serial consoles to stderr" },
  },
  notes: ["e.g. npm run bench:guest -- --quick --only fio --jobs randread-qd1 --modes shadow-on,coalesced", "The OPFS disk against the memory disk: npm run bench:disks"],
} as const;

interface Args {
  browser: boolean;
  quick: boolean;
  runtime: number;
  warmup: number;
  reps: number;
  bootPairs: number;
  jobs: FioJob[];
  modes: Set<Mode>;
  coalesce: { thr: number; time: number };
  only: "" | "boot" | "fio";
  echo: boolean;
  out: string;
}

function readArgs(): Args {
  const v = parseFlags(COMMAND);
  const quick = v.quick ?? false;
  const a: Args = {
    browser: v.browser ?? false,
    quick,
    runtime: Number(v.runtime ?? (quick ? 5 : 20)),
    warmup: Number(v.warmup ?? (quick ? 3 : 4)),
    reps: Number(v.reps ?? 1),
    bootPairs: Number(v["boot-pairs"] ?? (quick ? 1 : 2)),
    jobs: quick ? JOBS.filter((j) => QUICK_JOBS.includes(j.id)) : JOBS,
    modes: new Set(MODES),
    // THR 7 (8 entries, 0's based), TIME 1 (100 us).
    coalesce: { thr: 7, time: 1 },
    only: "",
    echo: v.echo ?? false,
    out: v.out ?? join(ROOT, "bench/results"),
  };
  if (v.jobs !== undefined) {
    const ids = v.jobs.split(",");
    a.jobs = JOBS.filter((j) => ids.includes(j.id));
    if (a.jobs.length !== ids.length) fail(COMMAND, `--jobs: known ids are ${JOBS.map((j) => j.id).join(", ")}`);
  }
  if (v.modes !== undefined) {
    const ms = v.modes.split(",");
    const bad = ms.filter((m) => !(MODES as readonly string[]).includes(m));
    if (bad.length > 0) fail(COMMAND, `--modes: known modes are ${MODES.join(", ")}`);
    a.modes = new Set(ms as Mode[]);
  }
  if (v.coalesce !== undefined) {
    const [thr, time] = v.coalesce.split(",").map(Number);
    if (!(thr >= 0 && thr <= 255 && time >= 0 && time <= 255)) fail(COMMAND, "--coalesce THR,TIME: two numbers 0..255");
    a.coalesce = { thr, time };
  }
  if (v.only !== undefined) {
    if (v.only !== "boot" && v.only !== "fio") fail(COMMAND, "--only boot or --only fio");
    a.only = v.only;
  }
  if (!(a.runtime >= 1)) fail(COMMAND, "--runtime is seconds, >= 1");
  if (!(a.reps >= 1) || !(a.bootPairs >= 0)) fail(COMMAND, "--reps >= 1, --boot-pairs >= 0");
  return a;
}

const args = readArgs();
const APPEND_MIB = 256;
if (!existsSync(DISK_IMAGE)) fail(COMMAND, `${DISK_IMAGE} is missing: build the guest with "bash scripts/build-guest.sh"`);
/** The image's size: where the appended zeros start (the page fetches the same file). */
const IMAGE_BYTES = statSync(DISK_IMAGE).size;
/** Interrupt coalescing in the "coalesced" mode (set-feature 08h: THR | TIME << 8). */
const COALESCE = args.coalesce;
const COALESCE_VALUE = COALESCE.thr | (COALESCE.time << 8);
const started = performance.now();

function say(msg: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench:guest ${s} s] ${msg}\n`);
}

// ---- one boot ----

let platform: Platform;

async function boot(label: string, opts: Partial<BootOptions>): Promise<BenchGuest> {
  const g = await platform.boot({
    nvme: true,
    ide: false,
    label: "nvme",
    appendBytes: 0,
    serial: "V86BENCH0001",
    shadowDoorbells: true,
    bootTimeoutMs: 300_000,
    echo: args.echo,
    ...opts,
  });
  say(`${label}: shell after ${(g.runToPromptMs / 1000).toFixed(1)} s`);
  return g;
}

// ---- boot time ----

async function bootTime(disk: "ide" | "nvme", i: number): Promise<BootTime> {
  const cpu0 = platform.cpuSeconds();
  const g = await boot(`boot-time ${disk} #${i + 1}`, disk === "ide" ? { nvme: false, ide: true, label: "ide" } : { serial: "V86BENCHBOOT" });
  const instr = await g.instructions();
  const cpu = platform.cpuSeconds() - cpu0;
  const mounts = await ok(g, "awk '$2 == \"/\" { d = $1 } END { print d }' /proc/mounts");
  const want = disk === "ide" ? "/dev/sda2" : "/dev/nvme0n1p2";
  await g.stop();
  if (mounts.trim() !== want) throw new Error(`boot-time ${disk}: root is ${mounts.trim()}, expected ${want}`);
  return { disk, seconds: g.runToPromptMs / 1000, instructions: instr, hostCpuSeconds: cpu };
}

// ---- fio jobs ----


function irqCounts(text: string): { nvme: number; ide: number } {
  let nvme = 0;
  let ide = 0;
  for (const line of text.split("\n")) {
    const m = /^\s*\d+:\s+(\d+)/.exec(line);
    if (!m) continue;
    if (/nvme/.test(line)) nvme += Number(m[1]);
    if (/ata_piix/.test(line)) ide += Number(m[1]);
  }
  return { nvme, ide };
}

function sub(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const k of Object.keys(b)) d[k] = b[k] - (a[k] ?? 0);
  return d;
}

async function fio(g: BenchGuest, bootName: string, job: FioJob, mode: Mode, runtime: number, warm = false): Promise<Row> {
  const disk = mode === "ide" ? "ide" : "nvme";
  const dev = disk === "ide" ? "/dev/sda" : "/dev/nvme0n1";
  const policy = await g.doorbellPolicy();
  if (mode === "coalesced") await ok(g, `nvme set-feature /dev/nvme0 -f 8 -v ${COALESCE_VALUE} >/dev/null`);
  // The attach option doorbellPolicy, switched between runs so that both policies share a boot.
  if (mode === "eager") await g.setDoorbellPolicy("eager");
  const line = fioLine(job, dev, IMAGE_BYTES, APPEND_MIB, runtime, warm ? "warmup" : job.id);
  try {
    if (disk === "nvme" && (await g.doorbellPolicy()) !== (mode === "eager" ? "eager" : policy)) throw new Error(`doorbell policy did not switch for ${mode}`);
    const c0 = await g.counters();
    const mark = await g.mark();
    await g.sample();
    const t0 = performance.now();
    const cpu0 = platform.cpuSeconds();
    await ok(g, `cat /proc/interrupts >/tmp/i0; ${line}; r=$?; cat /proc/interrupts >/tmp/i1; [ $r = 0 ]`, (runtime + 180) * 1000);
    const wall = (performance.now() - t0) / 1000;
    const cpu = platform.cpuSeconds() - cpu0;
    await g.sample();
    const c1 = await g.counters();
    const out = await ok(g, `cat /tmp/i0; echo =====; cat /tmp/i1; echo =====; cat ${FIO_OUT}`);
    const [i0, i1, json] = out.split("=====\n");
    const r = parseFio(json);
    const irq0 = irqCounts(i0);
    const irq1 = irqCounts(i1);
    const win = await g.busyWindow(mark, disk);
    const ctl = sub(c0.controller, c1.controller);
    const ada = sub(c0.adapter, c1.adapter);
    const per = (n: number): number => (r.ios > 0 ? n / r.ios : NaN);
    const mips = win ? win.instructions / win.seconds / 1e6 : NaN;
    return {
      boot: bootName,
      job: job.id,
      mode,
      runtime,
      ...r,
      wallSeconds: wall,
      hostCpu: cpu / wall,
      mips,
      instrPerIo: win ? win.instructions / win.seconds / r.iops : NaN,
      windowSeconds: win?.seconds ?? NaN,
      perIo: {
        mmioDoorbellWrites: disk === "nvme" ? per(ctl.mmioDoorbellWrites) : NaN,
        interrupts: disk === "nvme" ? per(ctl.interrupts) : per(irq1.ide - irq0.ide),
        guestIrqs: per(disk === "nvme" ? irq1.nvme - irq0.nvme : irq1.ide - irq0.ide),
        polls: disk === "nvme" ? per(ctl.polls) : NaN,
        emptyPolls: disk === "nvme" ? per(ctl.emptyPolls) : NaN,
        eventIdxWrites: disk === "nvme" ? per(ctl.eventIdxWrites) : NaN,
        shadowDoorbellReads: disk === "nvme" ? per(ctl.shadowDoorbellReads) : NaN,
        commands: disk === "nvme" ? per(ctl.readCommands + ctl.writeCommands) : NaN,
        raises: disk === "nvme" ? per(ada.raises) : NaN,
        deferred: disk === "nvme" ? per(ada.deferred) : NaN,
        timerHookCalls: disk === "nvme" ? per(ada.timerHookCalls) : NaN,
        jitCompiles: disk === "nvme" ? per(ada.jitCompiles) : NaN,
      },
      deltas: disk === "nvme" ? { controller: ctl, adapter: ada } : { guestIrqs: { ide: irq1.ide - irq0.ide, nvme: irq1.nvme - irq0.nvme } },
    };
  } finally {
    if (mode === "coalesced") await ok(g, "nvme set-feature /dev/nvme0 -f 8 -v 0 >/dev/null");
    if (mode === "eager") await g.setDoorbellPolicy(policy);
  }
}

/** Guest MIPS in a CPU-bound shell loop (the reference for the I/O figures). */
async function cpuRef(g: BenchGuest, bootName: string): Promise<CpuRef> {
  const n = args.quick ? 50000 : 100000;
  const mark = await g.mark();
  await g.sample();
  const t0 = performance.now();
  await ok(g, `i=0; while [ $i -lt ${n} ]; do i=$((i+1)); done`, 300_000);
  await g.sample();
  const seconds = (performance.now() - t0) / 1000;
  return { boot: bootName, seconds, mips: (await g.since(mark)) / seconds / 1e6 };
}

async function fioBoot(bootName: string, shadow: boolean, rows: Row[], cpu: CpuRef[]): Promise<void> {
  const b = await boot(bootName, { ide: true, appendBytes: APPEND_MIB << 20, serial: "V86BENCH0001", shadowDoorbells: shadow });
  try {
    const root = (await ok(b, "awk '$2 == \"/\" { d = $1 } END { print d }' /proc/mounts")).trim();
    const sizes = (await ok(b, "cat /sys/block/sda/size /sys/block/nvme0n1/size")).split(/\s+/).map(Number);
    if (root !== "/dev/nvme0n1p2" || sizes[0] !== sizes[1] || sizes[0] * 512 !== IMAGE_BYTES + (APPEND_MIB << 20)) {
      throw new Error(`${bootName}: unexpected guest (root ${root}, sizes ${sizes})`);
    }
    // fio's code into the page cache, the emulator's JIT over the kernel's I/O paths of every mode.
    for (const mode of ["ide", "shadow-on", "coalesced"] as const) {
      if (mode === "coalesced" && !(shadow && args.modes.has(mode))) continue;
      for (const job of [JOBS[1], JOBS[3]]) await fio(b, bootName, job, mode, args.warmup, true);
    }
    say(`${bootName}: warmed up`);
    cpu.push(await cpuRef(b, bootName));
    say(`${bootName}: CPU-bound loop ${cpu[cpu.length - 1].mips.toFixed(0)} MIPS`);
    for (let rep = 0; rep < args.reps; rep++) {
      for (const job of args.jobs) {
        const modes: Mode[] = shadow ? ["ide", "shadow-on", "coalesced"] : ["ide", "shadow-off"];
        if (shadow && job.bs === "4k") modes.push("eager");
        for (const mode of [...args.modes].filter((m) => modes.includes(m))) {
          const row = await fio(b, bootName, job, mode, args.runtime);
          rows.push(row);
          say(`${bootName}: ${job.id} ${mode}: ${row.iops.toFixed(0)} IOPS, ${(row.bwBytes / 1e6).toFixed(1)} MB/s, ` +
            `mean ${row.latMeanUs.toFixed(0)} us, p99 ${row.latP99Us.toFixed(0)} us, MMIO DB/IO ${row.perIo.mmioDoorbellWrites.toFixed(3)}, ` +
            `IRQ/IO ${row.perIo.interrupts.toFixed(3)}, JIT compiles/IO ${row.perIo.jitCompiles.toFixed(3)}, ${row.mips.toFixed(0)} MIPS (${row.wallSeconds.toFixed(1)} s)`);
        }
      }
    }
    const c = await b.counters();
    if (c.adapter.mmioErrors + c.adapter.tickErrors !== 0 || c.controller.invalidDoorbellWrites !== 0) {
      throw new Error(`${bootName}: device errors: ${JSON.stringify(c)}`);
    }
    const dmesg = await b.run("dmesg | grep -iE 'I/O error|blk_update|timed? ?out|nvme.*abort|ata[0-9.]*: .*(error|failed|exception)' | tail -5");
    if (dmesg.out.trim()) throw new Error(`${bootName}: guest reported I/O problems:\n${dmesg.out}`);
  } catch (e) {
    process.stderr.write(`--- serial tail (${bootName}) ---\n${await b.tail(40).catch(() => "(none)")}\n`);
    throw e;
  } finally {
    await b.stop();
  }
}

// ---- main ----

async function main(): Promise<void> {
  const v86Version = (JSON.parse(readFileSync(join(ROOT, "node_modules/v86/package.json"), "utf8")) as { version: string }).version;
  const load0 = loadavg();
  const commit = deviceCommit();
  platform = args.browser ? await (await import("./chromium.ts")).chromiumPlatform(say) : nodePlatform();
  say(`${args.quick ? "quick run" : "full run"} in ${platform.runtime}: fio ${args.runtime} s per job, ${args.jobs.length} jobs, image ${IMAGE_BYTES} bytes + ${APPEND_MIB} MiB`);
  const boots: BootTime[] = [];
  for (let i = 0; i < (args.only === "fio" ? 0 : args.bootPairs); i++) {
    // Alternate the order so drift does not favour one disk.
    const order: ("ide" | "nvme")[] = i % 2 === 0 ? ["ide", "nvme"] : ["nvme", "ide"];
    for (const d of order) boots.push(await bootTime(d, i));
  }
  const rows: Row[] = [];
  const cpu: CpuRef[] = [];
  if (args.only !== "boot") {
    await fioBoot("shadow on", true, rows, cpu);
    if (args.modes.has("shadow-off")) await fioBoot("shadow off", false, rows, cpu);
  }
  await platform.close();
  const report: BenchReport = {
    date: new Date().toISOString(),
    quick: args.quick,
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    node: process.version,
    platform: platform.name,
    ...(platform.name === "node" ? {} : { browser: platform.runtime }),
    v86: v86Version,
    commit,
    loadavg: { start: load0, end: loadavg() },
    runtime: args.runtime,
    warmup: args.warmup,
    reps: args.reps,
    imageBytes: IMAGE_BYTES,
    appendMiB: APPEND_MIB,
    coalescing: { ...COALESCE, value: COALESCE_VALUE, command: `nvme set-feature /dev/nvme0 -f 8 -v ${COALESCE_VALUE}` },
    fioLines: Object.fromEntries(args.jobs.map((j) => [j.id, fioLine(j, "<DEV>", IMAGE_BYTES, APPEND_MIB, args.runtime)])),
    wallSeconds: (performance.now() - started) / 1000,
    boots,
    cpuRef: cpu,
    rows,
  };
  const md = renderMarkdown(report);
  mkdirSync(args.out, { recursive: true });
  const base = platform.name === "node" ? "guest" : `guest-${platform.name}`;
  writeFileSync(join(args.out, `${base}.json`), JSON.stringify(report, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2) + "\n");
  writeFileSync(join(args.out, `${base}.md`), md);
  process.stdout.write(md);
  say(`done in ${(report.wallSeconds / 60).toFixed(1)} min; wrote ${join(args.out, `${base}.md`)} and ${base}.json`);
}

main().then(
  () => process.exit(0),
  async (e) => {
    process.stderr.write(`bench:guest: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    await platform?.close().catch(() => undefined);
    process.exit(1);
  },
);
