// The guest benchmark's disk mode (run.ts --disks, Chromium only): the persistent OPFS disk against
// the in-memory disk, in one boot, alternating job by job. The root stays on namespace 1 (the image
// in memory); namespace 2 is a blank in-memory disk, namespace 3 a blank persistent disk in OPFS
// (created afresh, removed at the end), both DISK_MIB large; fio works on the raw devices.
//
// Jobs: 4 KiB random write QD 32 and 1 MiB sequential write QD 8 (jobs.ts), and the flush latency:
// 4 KiB random writes at QD 1 each followed by fdatasync (fio --fdatasync=1), whose latency fio
// reports in its "sync" section. On the OPFS disk (volatile write cache) Linux sends an NVMe Flush
// for each, which resolves after the worker flushed the data file and then the map pages naming
// the blocks; on the memory disk (no volatile write cache) Linux sends none, so its figure is the
// floor of the path.

import { ok, type BenchGuest } from "./host.ts";
import { FIO_OUT, JOBS, fioLine, parseFio, type FioJob, type FioResult } from "./jobs.ts";

export const DISK_MIB = 256;
const NAME = "bench-guest-opfs";

export interface DiskRow extends FioResult {
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
export const DISK_JOBS = [JOBS.find((j) => j.id === "randwrite-qd32")!, JOBS.find((j) => j.id === "seqwrite-1m")!, FLUSH_JOB];

export const diskBootOptions = {
  disks: [
    { kind: "memory" as const, size: DISK_MIB << 20 },
    { kind: "opfs" as const, name: NAME, size: DISK_MIB << 20 },
  ],
};

const DEVICE = { memory: "/dev/nvme0n2", opfs: "/dev/nvme0n3" };

export function diskFioLine(job: FioJob, disk: "memory" | "opfs", runtime: number): string {
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
export async function runDiskJobs(g: BenchGuest, runtime: number, reps: number, say: (msg: string) => void): Promise<DiskRow[]> {
  const sizes = (await ok(g, "cat /sys/block/nvme0n2/size /sys/block/nvme0n3/size")).split(/\s+/).map(Number);
  if (sizes[0] * 512 !== DISK_MIB << 20 || sizes[1] * 512 !== DISK_MIB << 20) throw new Error(`disk mode: unexpected namespace sizes ${sizes}`);
  const wc = (await ok(g, "cat /sys/block/nvme0n2/queue/write_cache /sys/block/nvme0n3/queue/write_cache")).split("\n");
  say(`disk mode: write cache memory ${wc[0]}, opfs ${wc[1]}`);
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
        say(`disk mode: ${job.id} ${disk}: ${row.iops.toFixed(0)} IOPS, ${(row.bwBytes / 1e6).toFixed(1)} MB/s, p99 ${row.latP99Us.toFixed(0)} us` +
          (row.syncs ? `, fdatasync mean ${row.syncMeanUs!.toFixed(0)} us p50 ${row.syncP50Us!.toFixed(0)} us p99 ${row.syncP99Us!.toFixed(0)} us (${row.syncs})` : ""));
      }
    }
  }
  return rows;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The disk mode's table: per job, both disks' figures (mean over reps) and OPFS as a share of memory. */
export function renderDisks(rows: DiskRow[], head: string): string {
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
