// The guest benchmark's report: types, the issue's targets, and the Markdown rendering.

import type { FioResult } from "./jobs.ts";
import { JOBS } from "./jobs.ts";

export interface PerIo {
  mmioDoorbellWrites: number;
  /** NVMe: the controller's interrupts (INTx rising edges); IDE: the guest's ata_piix IRQ count. */
  interrupts: number;
  /** Interrupts the guest counted in /proc/interrupts for the disk's line. */
  guestIrqs: number;
  polls: number;
  emptyPolls: number;
  eventIdxWrites: number;
  shadowDoorbellReads: number;
  /** NVMe read + write commands per fio I/O (2 for 1 MiB I/Os at the default MDTS of 512 KiB). */
  commands: number;
  raises: number;
  deferred: number;
  timerHookCalls: number;
  /** Wasm modules v86's JIT compiled per I/O (NaN for IDE rows). */
  jitCompiles: number;
}

export interface Row extends FioResult {
  boot: string;
  job: string;
  mode: string;
  runtime: number;
  wallSeconds: number;
  /** CPU time of the process(es) running the emulator (this one, or Chromium's), all threads, over the job's wall time: 1 = one core busy. */
  hostCpu: number;
  /** Guest instructions per second (millions) while the disk was busy. */
  mips: number;
  /** Guest instructions per fio I/O while the disk was busy. */
  instrPerIo: number;
  windowSeconds: number;
  perIo: PerIo;
  deltas: unknown;
}

export interface BootTime {
  disk: "ide" | "nvme";
  seconds: number;
  instructions: number;
  /** CPU time of the process(es) running the emulator from starting the boot to the prompt. */
  hostCpuSeconds: number;
}

export interface CpuRef {
  boot: string;
  seconds: number;
  mips: number;
}

export interface BenchReport {
  date: string;
  quick: boolean;
  nproc: number;
  cpu: string;
  node: string;
  /** Where the guests ran: "node" (this process) or "chromium". */
  platform?: string;
  /** With platform "chromium": the browser, e.g. "Chromium 150.0.7871.100 (headless, ...)". */
  browser?: string;
  v86: string;
  /** The last commit of the device code (src/, asm/) the figures were taken with. */
  commit: string;
  loadavg: { start: number[]; end: number[] };
  runtime: number;
  warmup: number;
  reps: number;
  imageBytes: number;
  appendMiB: number;
  coalescing: { thr: number; time: number; value: number; command: string };
  fioLines: Record<string, string>;
  wallSeconds: number;
  boots: BootTime[];
  cpuRef: CpuRef[];
  rows: Row[];
  targets?: Target[];
}

export interface Target {
  what: string;
  want: string;
  measured: string;
  met: boolean | undefined;
}

const MODE_NAMES: Record<string, string> = {
  ide: "IDE",
  "shadow-on": "NVMe, shadow doorbells",
  coalesced: "NVMe, shadow + coalescing",
  eager: "NVMe, shadow, eager policy",
  "shadow-off": "NVMe, no shadow doorbells",
};

function mean(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

/** The mean of `f` over the rows of one boot, job and mode (several with --reps). */
export function metric(rows: Row[], boot: string, job: string, mode: string, f: (r: Row) => number): number {
  return mean(rows.filter((r) => r.boot === boot && r.job === job && r.mode === mode).map(f));
}

const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–");
const fix = (x: number, d: number): string => (Number.isFinite(x) ? x.toFixed(d) : "–");
const lat = (x: number): string => (Number.isFinite(x) ? (x < 100 ? x.toFixed(1) : int(x)) : "–");
const ratio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : "–");

export function computeTargets(r: BenchReport): Target[] {
  const rows = r.rows;
  const on = "shadow on";
  const t: Target[] = [];
  const iops = (job: string, mode: string, boot = on): number => metric(rows, boot, job, mode, (x) => x.iops);
  const qd32 = iops("randread-qd32", "shadow-on") / iops("randread-qd32", "ide");
  t.push({ what: "4 KiB random read IOPS, QD 32: NVMe / IDE", want: "≥ 4×", measured: ratio(qd32), met: Number.isFinite(qd32) ? qd32 >= 4 : undefined });
  const qd1 = iops("randread-qd1", "shadow-on") / iops("randread-qd1", "ide");
  t.push({ what: "4 KiB random read IOPS, QD 1: NVMe / IDE", want: "≥ 2×", measured: ratio(qd1), met: Number.isFinite(qd1) ? qd1 >= 2 : undefined });
  const seq = metric(rows, on, "seqread-1m", "shadow-on", (x) => x.bwBytes) / metric(rows, on, "seqread-1m", "ide", (x) => x.bwBytes);
  t.push({ what: "1 MiB sequential read MB/s: NVMe / IDE", want: "≥ 2×", measured: ratio(seq), met: Number.isFinite(seq) ? seq >= 2 : undefined });
  const deep = JOBS.filter((j) => j.iodepth >= 8 && rows.some((x) => x.job === j.id && x.mode === "shadow-on"));
  const db = deep.map((j) => [j.id, metric(rows, on, j.id, "shadow-on", (x) => x.perIo.mmioDoorbellWrites)] as const);
  const worst = Math.max(...db.map(([, v]) => v));
  t.push({
    what: "MMIO doorbell writes per I/O, shadow doorbells, QD ≥ 8",
    want: "≤ 0.05",
    measured: db.map(([id, v]) => `${id} ${fix(v, 3)}`).join(", ") || "–",
    met: db.length ? worst <= 0.05 : undefined,
  });
  const bi = mean(r.boots.filter((b) => b.disk === "ide").map((b) => b.seconds));
  const bn = mean(r.boots.filter((b) => b.disk === "nvme").map((b) => b.seconds));
  const ii = mean(r.boots.filter((b) => b.disk === "ide").map((b) => b.instructions));
  const ni = mean(r.boots.filter((b) => b.disk === "nvme").map((b) => b.instructions));
  t.push({
    what: "Boot to shell: NVMe / IDE (mean wall time)",
    want: "≤ 1×",
    measured: Number.isFinite(bi) && Number.isFinite(bn) ? `${bn.toFixed(1)} s / ${bi.toFixed(1)} s = ${ratio(bn / bi)} (guest instructions ${ratio(ni / ii)})` : "–",
    met: Number.isFinite(bn / bi) ? bn <= bi : undefined,
  });
  return t;
}

export function renderMarkdown(r: BenchReport): string {
  const L: string[] = [];
  r.targets = computeTargets(r);
  const load = (a: number[]): string => a.map((x) => x.toFixed(2)).join(" ");
  L.push(`## Guest benchmark: v86 IDE vs NVMe (${r.quick ? "quick run" : "full run"}${r.browser ? ", in Chromium" : ", under Node"})`, "");
  L.push(
    `${r.date.slice(0, 10)} · ${r.nproc} cores (\`nproc\`), ${r.cpu} · ${r.browser ? `${r.browser}, driven from Node ${r.node}` : `Node ${r.node}`} · v86 ${r.v86} · device code (src/, asm/) at ${r.commit} · Debian 6.1 i386 guest, 256 MiB RAM · ` +
      `load average ${load(r.loadavg.start)} at the start, ${load(r.loadavg.end)} at the end · run time ${(r.wallSeconds / 60).toFixed(1)} min`,
    "",
  );
  L.push(
    `fio ${r.runtime} s per job (time-based, after a ${r.warmup} s warm-up per disk at the start of each boot), ${r.reps === 1 ? "one run" : `${r.reps} runs`} per job and disk, ` +
      `IDE and NVMe alternating. Both disks in one guest, each a copy of the image + ${r.appendMiB} MiB of zeros; fio on the raw devices in the zeros. ` +
      `Boot "shadow on" has the controller's defaults (shadow doorbells, doorbell policy \`awake\`); boot "shadow off" has \`shadowDoorbells: false\`. ` +
      `Coalescing: \`${r.coalescing.command}\` (THR ${r.coalescing.thr} = ${r.coalescing.thr + 1} entries, TIME ${r.coalescing.time} = ${r.coalescing.time * 100} µs). ` +
      `"eager": the controller's doorbell policy switched to \`eager\` (setDoorbellPolicy) for that run.`,
    "",
  );
  L.push(
    "| job | boot | disk / mode | IOPS | MB/s | mean lat µs | p99 lat µs | MMIO DB / I/O | IRQ / I/O | polls / I/O | EventIdx / I/O | guest MIPS | k instr / I/O |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const job of JOBS) {
    for (const x of r.rows.filter((y) => y.job === job.id)) {
      L.push(
        `| ${job.title} | ${x.boot} | ${MODE_NAMES[x.mode] ?? x.mode} | ${int(x.iops)} | ${fix(x.bwBytes / 1e6, 1)} | ${lat(x.latMeanUs)} | ${lat(x.latP99Us)} | ` +
          `${fix(x.perIo.mmioDoorbellWrites, 3)} | ${fix(x.perIo.interrupts, 3)} | ${fix(x.perIo.polls, 2)} | ${fix(x.perIo.eventIdxWrites, 3)} | ${int(x.mips)} | ${fix(x.instrPerIo / 1000, 1)} |`,
      );
    }
  }
  L.push("");
  L.push(
    "MB/s = 10⁶ bytes/s. Latency: fio's total latency (submission to completion). Per-I/O columns: device counter deltas around the fio run divided by fio's I/O count " +
      "(IRQ / I/O: the controller's interrupts for NVMe, the guest's ata_piix count in /proc/interrupts for IDE). Guest MIPS and k instr / I/O: v86's instruction counter while the disk was busy.",
    "",
  );
  const cpuUse = r.rows.map((x) => x.hostCpu).filter((x) => Number.isFinite(x));
  if (cpuUse.length) {
    L.push(
      `Host CPU used by ${r.browser ? "Chromium's processes (browser, renderer, GPU, utilities)" : "the benchmark process"} during the jobs (all threads; 100 % = one core): mean ${fix(100 * mean(cpuUse), 0)} %, ` +
        `min ${fix(100 * Math.min(...cpuUse), 0)} %, max ${fix(100 * Math.max(...cpuUse), 0)} %.`,
      "",
    );
  }

  L.push("### Targets (issue 5, ratios within one boot)", "", "| target | wanted | measured | |", "| --- | --- | --- | --- |");
  for (const t of r.targets) L.push(`| ${t.what} | ${t.want} | ${t.measured} | ${t.met === undefined ? "not measured" : t.met ? "met" : "**missed**"} |`);
  L.push("");

  const on = "shadow on";
  const four = JOBS.filter((j) => j.bs === "4k" && r.rows.some((x) => x.job === j.id && x.mode === "eager"));
  if (four.length) {
    L.push("### Doorbell policy: awake (default) vs eager", "", "| job | MMIO DB / I/O | EventIdx / I/O | IOPS | mean lat µs | p99 lat µs | guest MIPS |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const j of four) {
      const m = (mode: string, f: (x: Row) => number): number => metric(r.rows, on, j.id, mode, f);
      const pair = (f: (x: Row) => number, fmt: (x: number) => string): string => `${fmt(m("shadow-on", f))} / ${fmt(m("eager", f))}`;
      L.push(
        `| ${j.title} | ${pair((x) => x.perIo.mmioDoorbellWrites, (v) => fix(v, 3))} | ${pair((x) => x.perIo.eventIdxWrites, (v) => fix(v, 3))} | ${pair((x) => x.iops, int)} | ` +
          `${pair((x) => x.latMeanUs, lat)} | ${pair((x) => x.latP99Us, lat)} | ${pair((x) => x.mips, int)} |`,
      );
    }
    L.push("");
  }

  if (r.boots.length) {
    L.push(
      "### Boot to a shell (separate boots, one disk each)",
      "",
      "| root on | seconds (each boot, in run order) | mean s | host CPU s (mean) | guest instructions (G, mean) |",
      "| --- | --- | ---: | ---: | ---: |",
    );
    for (const d of ["ide", "nvme"] as const) {
      const b = r.boots.filter((x) => x.disk === d);
      L.push(
        `| ${d === "ide" ? "IDE (label ide, /dev/sda2)" : "NVMe (label nvme, /dev/nvme0n1p2)"} | ${b.map((x) => x.seconds.toFixed(1)).join(", ")} | ${fix(mean(b.map((x) => x.seconds)), 1)} | ` +
          `${fix(mean(b.map((x) => x.hostCpuSeconds)), 1)} | ${fix(mean(b.map((x) => x.instructions)) / 1e9, 2)} |`,
      );
    }
    L.push(
      "",
      "Seconds from emulator.run() (SeaBIOS) to the first shell prompt of the root file system; boots alternate IDE, NVMe, NVMe, IDE, ... " +
        "Wall time follows the host's load; guest instructions do not.",
      "",
    );
  }

  if (r.cpuRef.length) {
    L.push(`CPU-bound reference (a shell loop in the guest): ${r.cpuRef.map((c) => `${int(c.mips)} MIPS (${c.boot})`).join(", ")}.`, "");
  }

  L.push("### fio command lines", "", `\`<DEV>\` is \`/dev/sda\` (IDE) or \`/dev/nvme0n1\` (NVMe); the offset is the image size.`, "", "```");
  for (const line of Object.values(r.fioLines)) L.push(line);
  L.push("```", "");
  return L.join("\n");
}
