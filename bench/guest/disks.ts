// The persistent OPFS disk against the in-memory disk (npm run bench:disks, Chromium only), in one
// boot, alternating job by job. The root stays on namespace 1 (the image
// in memory); namespace 2 is a blank in-memory disk, namespace 3 a blank persistent disk in OPFS
// (created afresh, removed at the end), both DISK_MIB large; fio works on the raw devices.
//
// Jobs: 4 KiB random write QD 32 and 1 MiB sequential write QD 8 (jobs.ts), and the flush latency:
// 4 KiB random writes at QD 1 each followed by fdatasync (fio --fdatasync=1), whose latency fio
// reports in its "sync" section. On the OPFS disk (volatile write cache) Linux sends an NVMe Flush
// for each, which resolves after the worker flushed the data file and then the map pages naming
// the blocks; on the memory disk (no volatile write cache) Linux sends none, so its figure is the
// floor of the path.
//
//   npm run bench:disks [-- --runtime S --reps N --out DIR --echo]   (--help: the flags)
//
// Every job --reps times (default 2), alternating which disk goes first. Output: a Markdown table on
// stdout and in bench/results/guest-disks.md, JSON in guest-disks.json. Progress goes to stderr.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fail, parseFlags } from "../../scripts/cli-args.ts";
import { DISK_IMAGE, ROOT } from "../../test/project-guest/image.ts";
import { deviceCommit } from "../device-commit.ts";
import { chromiumPlatform } from "./chromium.ts";
import { ok, type BenchGuest, type Platform } from "./host.ts";
import { FIO_OUT, JOBS, fioLine, parseFio, type FioJob, type FioResult } from "./jobs.ts";

const COMMAND = {
  name: "bench:disks",
  run: "npm run bench:disks --",
  flags: {
    quick: { type: "boolean", help: "5 s per job instead of 20: a smoke test" },
    runtime: { type: "string", arg: "S", help: "seconds per fio job, >= 1 (default 20; 5 with --quick)" },
    reps: { type: "string", arg: "N", help: "times every job runs on each disk, >= 1 (default 2)" },
    out: { type: "string", arg: "DIR", help: "where guest-disks.md and guest-disks.json go (default bench/results)" },
    echo: { type: "boolean", help: "copy the guest's serial console to stderr" },
  },
} as const;

const DISK_MIB = 256;
const NAME = "bench-guest-opfs";

interface DiskRow extends FioResult {
  job: string;
  disk: "memory" | "opfs";
  rep: number;
  /** fdatasync latency (the flush job): mean, p50, p99, max, microseconds. */
  syncMeanUs?: number;
  syncP50Us?: number;
  syncP99Us?: number;
  syncMaxUs?: number;
  syncs?: number;
}

const FLUSH_JOB: FioJob = { id: "fdatasync-qd1", title: "4 KiB random write + fdatasync, QD 1", rw: "randwrite", bs: "4k", iodepth: 1 };
const DISK_JOBS = [JOBS.find((j) => j.id === "randwrite-qd32")!, JOBS.find((j) => j.id === "seqwrite-1m")!, FLUSH_JOB];

const diskBootOptions = {
  disks: [
    { kind: "memory" as const, size: DISK_MIB << 20 },
    { kind: "opfs" as const, name: NAME, size: DISK_MIB << 20 },
  ],
};

const DEVICE = { memory: "/dev/nvme0n2", opfs: "/dev/nvme0n3" };

function diskFioLine(job: FioJob, disk: "memory" | "opfs", runtime: number): string {
  // fio keeps sync latency percentiles only with clat_percentiles (lat_percentiles alone leaves them out).
  return fioLine(job, DEVICE[disk], 0, DISK_MIB, runtime) + (job === FLUSH_JOB ? " --fdatasync=1 --clat_percentiles=1" : "");
}

interface SyncDir {
  total_ios?: number;
  lat_ns?: { mean?: number; max?: number; N?: number; percentile?: Record<string, number> };
}

function syncFigures(text: string): Pick<DiskRow, "syncMeanUs" | "syncP50Us" | "syncP99Us" | "syncMaxUs" | "syncs"> {
  const j = JSON.parse(text.slice(text.indexOf("{"))) as { jobs: { sync?: SyncDir }[] };
  const s = j.jobs[0]?.sync;
  const p = (q: number) => {
    const src = s?.lat_ns?.percentile ?? {};
    const k = Object.keys(src).find((x) => Number(x) === q);
    return k ? src[k] / 1000 : NaN;
  };
  return { syncMeanUs: (s?.lat_ns?.mean ?? NaN) / 1000, syncP50Us: p(50), syncP99Us: p(99), syncMaxUs: (s?.lat_ns?.max ?? NaN) / 1000, syncs: s?.lat_ns?.N || s?.total_ios || 0 };
}

/** Runs every job on both disks, `reps` times, alternating which goes first. */
async function runDiskJobs(g: BenchGuest, runtime: number, reps: number, say: (msg: string) => void): Promise<DiskRow[]> {
  const sizes = (await ok(g, "cat /sys/block/nvme0n2/size /sys/block/nvme0n3/size")).split(/\s+/).map(Number);
  if (sizes[0] * 512 !== DISK_MIB << 20 || sizes[1] * 512 !== DISK_MIB << 20) throw new Error(`bench:disks: unexpected namespace sizes ${sizes}`);
  const wc = (await ok(g, "cat /sys/block/nvme0n2/queue/write_cache /sys/block/nvme0n3/queue/write_cache")).split("\n");
  say(`write cache memory ${wc[0]}, opfs ${wc[1]}`);
  // Both disks written once over, so neither run meets fresh allocation (the OPFS file's growth, the memory disk's chunks).
  for (const d of ["memory", "opfs"] as const) await ok(g, `dd if=/dev/zero of=${DEVICE[d]} bs=1M count=${DISK_MIB} oflag=direct 2>/dev/null`, 600_000);
  const rows: DiskRow[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const job of DISK_JOBS) {
      const order: ("memory" | "opfs")[] = rep % 2 === 0 ? ["memory", "opfs"] : ["opfs", "memory"];
      for (const disk of order) {
        await ok(g, diskFioLine(job, disk, runtime), (runtime + 180) * 1000);
        const json = await ok(g, `cat ${FIO_OUT}`);
        const row: DiskRow = { job: job.id, disk, rep, ...parseFio(json), ...(job === FLUSH_JOB ? syncFigures(json) : {}) };
        rows.push(row);
        say(`${job.id} ${disk}: ${row.iops.toFixed(0)} IOPS, ${(row.bwBytes / 1e6).toFixed(1)} MB/s, p99 ${row.latP99Us.toFixed(0)} us` +
          (row.syncs ? `, fdatasync mean ${row.syncMeanUs!.toFixed(0)} us p50 ${row.syncP50Us!.toFixed(0)} us p99 ${row.syncP99Us!.toFixed(0)} us (${row.syncs})` : ""));
      }
    }
  }
  return rows;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The table: per job, both disks' figures (mean over reps) and OPFS as a share of memory. */
function renderDisks(rows: DiskRow[], head: string): string {
  const lines = [
    head,
    "",
    "| job | memory disk | OPFS disk | OPFS / memory |",
    "| --- | --- | --- | --- |",
  ];
  for (const job of DISK_JOBS) {
    const of = (d: "memory" | "opfs") => rows.filter((r) => r.job === job.id && r.disk === d);
    const m = of("memory");
    const o = of("opfs");
    if (!m.length || !o.length) continue;
    const cell = (rs: DiskRow[]) =>
      `${mean(rs.map((r) => r.iops)).toFixed(0)} IOPS, ${(mean(rs.map((r) => r.bwBytes)) / 1e6).toFixed(1)} MB/s, p99 ${mean(rs.map((r) => r.latP99Us)).toFixed(0)} µs` +
      (rs[0].syncs ? `; fdatasync mean ${mean(rs.map((r) => r.syncMeanUs!)).toFixed(0)} µs, p50 ${mean(rs.map((r) => r.syncP50Us!)).toFixed(0)} µs, **p99 ${mean(rs.map((r) => r.syncP99Us!)).toFixed(0)} µs**, max ${Math.max(...rs.map((r) => r.syncMaxUs!)).toFixed(0)} µs` : "");
    lines.push(`| ${job.title} | ${cell(m)} | ${cell(o)} | ${((100 * mean(o.map((r) => r.iops))) / mean(m.map((r) => r.iops))).toFixed(0)} % |`);
  }
  lines.push("", `Per rep: ${rows.map((r) => `${r.job}/${r.disk}#${r.rep + 1} ${r.iops.toFixed(0)}`).join(", ")}.`, "");
  return lines.join("\n");
}

// ---- main ----

const flags = parseFlags(COMMAND);
const quick = flags.quick ?? false;
const runtime = Number(flags.runtime ?? (quick ? 5 : 20));
const reps = Number(flags.reps ?? 2);
const out = flags.out ?? join(ROOT, "bench/results");
if (!(runtime >= 1)) fail(COMMAND, "--runtime is seconds, >= 1");
if (!(reps >= 1)) fail(COMMAND, "--reps >= 1");
if (!existsSync(DISK_IMAGE)) fail(COMMAND, `${DISK_IMAGE} is missing: build the guest with "bash scripts/build-guest.sh"`);
const started = performance.now();

function say(msg: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench:disks ${s} s] ${msg}\n`);
}

let platform: Platform | undefined;

async function main(): Promise<void> {
  const v86Version = (JSON.parse(readFileSync(join(ROOT, "node_modules/v86/package.json"), "utf8")) as { version: string }).version;
  const commit = deviceCommit();
  // A profile on disk, so that the OPFS disk is files on the host's disk (in incognito it is memory).
  platform = await chromiumPlatform(say, { persistent: true });
  say(`${platform.runtime}: fio ${runtime} s per job, ${reps} reps, memory and OPFS disks of ${DISK_MIB} MiB`);
  const g = await platform.boot({
    nvme: true,
    ide: false,
    label: "nvme",
    appendBytes: 0,
    serial: "V86BENCHDISK",
    shadowDoorbells: true,
    bootTimeoutMs: 300_000,
    echo: flags.echo ?? false,
    ...diskBootOptions,
  });
  say(`disks: shell after ${(g.runToPromptMs / 1000).toFixed(1)} s`);
  let rows;
  try {
    rows = await runDiskJobs(g, runtime, reps, say);
  } catch (e) {
    process.stderr.write(`--- serial tail ---\n${await g.tail(40).catch(() => "(none)")}\n`);
    throw e;
  } finally {
    await g.stop();
  }
  await platform.close();
  const report = {
    date: new Date().toISOString(),
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    browser: platform.runtime,
    v86: v86Version,
    commit,
    loadavg: loadavg(),
    runtime,
    reps,
    fioLines: Object.fromEntries(DISK_JOBS.map((j) => [j.id, diskFioLine(j, "opfs", runtime)])),
    rows,
  };
  const head = `# Persistent (OPFS) disk against the in-memory disk (npm run bench:disks)\n\n` +
    `${report.date}, ${report.nproc} × ${report.cpu}, ${report.browser}, v86 ${report.v86}, device code at ${report.commit}, ` +
    `load average at the end ${report.loadavg.map((x) => x.toFixed(1)).join(" ")}. fio ${runtime} s per job on the raw ${DISK_MIB} MiB namespaces, ${reps} reps alternating.`;
  const md = renderDisks(rows, head);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "guest-disks.json"), JSON.stringify(report, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2) + "\n");
  writeFileSync(join(out, "guest-disks.md"), md);
  process.stdout.write(md);
}

main().then(
  () => process.exit(0),
  async (e) => {
    process.stderr.write(`bench:disks: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    await platform?.close().catch(() => undefined);
    process.exit(1);
  },
);
