// The fio jobs of the guest benchmark and the exact command lines typed in the guest.
//
// Every job works on the raw device in the zeros appended after the image (--offset=<image size>
// --size=256M), so the mounted root file system is never touched, and with the same random seed
// (fio's default randrepeat=1) on both disks. Results go to a file on the guest's tmpfs and are
// printed after the job, so the serial console is quiet while fio runs.

export interface FioJob {
  /** Short id used in tables and JSON. */
  id: string;
  /** What the table calls it. */
  title: string;
  rw: "randread" | "randwrite" | "read" | "write";
  bs: string;
  iodepth: number;
}

export const JOBS: FioJob[] = [
  { id: "randread-qd1", title: "4 KiB random read, QD 1", rw: "randread", bs: "4k", iodepth: 1 },
  { id: "randread-qd32", title: "4 KiB random read, QD 32", rw: "randread", bs: "4k", iodepth: 32 },
  { id: "randwrite-qd1", title: "4 KiB random write, QD 1", rw: "randwrite", bs: "4k", iodepth: 1 },
  { id: "randwrite-qd32", title: "4 KiB random write, QD 32", rw: "randwrite", bs: "4k", iodepth: 32 },
  { id: "seqread-1m", title: "1 MiB sequential read, QD 8", rw: "read", bs: "1M", iodepth: 8 },
  { id: "seqwrite-1m", title: "1 MiB sequential write, QD 8", rw: "write", bs: "1M", iodepth: 8 },
];

/** Where fio writes its JSON in the guest (tmpfs). */
export const FIO_OUT = "/tmp/fio.json";

/**
 * The fio command line for `job` on `device`. `offset` is the image size in bytes (the start of
 * the appended zeros), `sizeMiB` the region, `runtime` seconds.
 */
export function fioLine(job: FioJob, device: string, offset: number | string, sizeMiB: number, runtime: number, name = job.id): string {
  return [
    "fio",
    `--name=${name}`,
    `--filename=${device}`,
    `--offset=${offset}`,
    `--size=${sizeMiB}M`,
    `--rw=${job.rw}`,
    `--bs=${job.bs}`,
    "--direct=1",
    "--ioengine=libaio",
    `--iodepth=${job.iodepth}`,
    "--time_based",
    `--runtime=${runtime}`,
    "--lat_percentiles=1",
    "--percentile_list=50:99",
    "--eta=never",
    "--output-format=json",
    `--output=${FIO_OUT}`,
  ].join(" ");
}

/** What the benchmark takes from fio's JSON for one job. */
export interface FioResult {
  /** I/Os completed (read + write). */
  ios: number;
  iops: number;
  /** Bytes per second (decimal MB/s = bwBytes / 1e6). */
  bwBytes: number;
  /** Total latency (submission to completion), microseconds. */
  latMeanUs: number;
  latP50Us: number;
  latP99Us: number;
  /** fio's own measured run time, ms. */
  runtimeMs: number;
}

interface FioDir {
  total_ios?: number;
  io_bytes?: number;
  iops?: number;
  bw_bytes?: number;
  runtime?: number;
  lat_ns?: { mean?: number; percentile?: Record<string, number> };
  clat_ns?: { mean?: number; percentile?: Record<string, number> };
}

function pct(d: FioDir, p: string): number {
  const src = d.lat_ns?.percentile ?? d.clat_ns?.percentile ?? {};
  const key = Object.keys(src).find((k) => Number(k) === Number(p));
  return key ? src[key] / 1000 : NaN;
}

/** Parses fio --output-format=json (one job, reads or writes). */
export function parseFio(text: string): FioResult {
  const start = text.indexOf("{");
  if (start < 0) throw new Error(`no JSON in fio output:\n${text.slice(0, 2000)}`);
  const j = JSON.parse(text.slice(start)) as { jobs: { read: FioDir; write: FioDir; error?: number }[] };
  const job = j.jobs?.[0];
  if (!job) throw new Error("fio JSON without jobs");
  if (job.error) throw new Error(`fio job error ${job.error}`);
  const d = (job.write?.total_ios ?? 0) > (job.read?.total_ios ?? 0) ? job.write : job.read;
  const ios = (job.read?.total_ios ?? 0) + (job.write?.total_ios ?? 0);
  return {
    ios,
    iops: d.iops ?? 0,
    bwBytes: d.bw_bytes ?? 0,
    latMeanUs: (d.lat_ns?.mean ?? d.clat_ns?.mean ?? NaN) / 1000,
    latP50Us: pct(d, "50"),
    latP99Us: pct(d, "99"),
    runtimeMs: d.runtime ?? 0,
  };
}
