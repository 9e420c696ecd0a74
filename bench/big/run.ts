// Big disks with bounded memory (npm run bench:big): a blank 16 GiB second namespace streamed
// over HTTP in Chromium, and fio writing and verifying 1 GiB on it while the tab's memory is
// measured.
//
//   npm run bench:big [-- --size-gib 16 --io-gib 1 --budget-mib 128 --out DIR --echo]   (--help: the flags)
//
// The big disk is a sparse file of the given size made here (nothing on the host's disk but its
// metadata), served by Debian's nginx (bench/stream/nginx.ts) with Range, read by the NVMe
// HttpBackend, and written through its copy-on-write overlay with the given memory budget
// (default: the overlay's own default), which spills to OPFS past it. A blank second namespace
// rather than a 16 GiB copy of the default image: the guest boots the default image unchanged
// from namespace 1 (itself read over HTTP from the dev server, so the tab holds no copy of it),
// and fio works on the raw big device; the base's contents do not matter to the memory bound,
// the bytes written do.
//
// fio: 64 KiB random writes over the whole device (so offsets past 4 GiB), 1 GiB in all, QD 16,
// each block with a crc32c header, then read back and verified (verify_fatal). Memory, two ways:
// the page's own measure, performance.measureUserAgentSpecificMemory() (the page is served
// cross-origin isolated for it; JS heaps of the page and its workers after a GC, their array
// buffers; it leaves wasm memory out, so v86's is added), every 5 s during fio; and the RSS of Chromium's renderer
// processes (/proc/PID/status VmRSS, the processes whose command line has --type=renderer; the
// tab's is the largest), every second, which also holds Chromium's own ~120 MiB and garbage not
// collected yet. The target, guest RAM + 256 MiB, is judged on the page's measure; both are
// reported. Output: bench/results/big.md and big.json (big-budget-N.* with --budget-mib).

import { mkdirSync, mkdtempSync, openSync, closeSync, ftruncateSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fail, parseFlags } from "../../scripts/cli-args.ts";
import { ROOT } from "../../test/project-guest/image.ts";
import { deviceCommit } from "../device-commit.ts";
import { chromiumPlatform } from "../guest/chromium.ts";
import { ok, type BenchGuest, type DiskStat, type PageMemory, type Platform } from "../guest/host.ts";
import { startNginx, type Nginx } from "../stream/nginx.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** The guest RAM the bench page boots with (src/app/machine.ts's MEMORY_SIZE; that module loads v86's wasm, which Node cannot import). */
const MEMORY_SIZE = 256 * MiB;

const COMMAND = {
  name: "bench:big",
  run: "npm run bench:big --",
  flags: {
    "size-gib": { type: "string", arg: "N", help: "size of the blank big disk in GiB, a whole number >= 1 (default 16)" },
    "io-gib": { type: "string", arg: "N", help: "GiB fio writes and verifies, more than 0 and at most the size (default 1)" },
    "budget-mib": { type: "string", arg: "N", help: "the overlay's memoryBudget in MiB (default: the overlay's own); output big-budget-N.*" },
    out: { type: "string", arg: "DIR", help: "where big.md and big.json go (default bench/results)" },
    echo: { type: "boolean", help: "copy the guest's serial console to stderr" },
  },
} as const;

interface Args {
  sizeGiB: number;
  ioGiB: number;
  budgetMiB: number | undefined;
  out: string;
  echo: boolean;
}

function readArgs(): Args {
  const v = parseFlags(COMMAND);
  const a: Args = {
    sizeGiB: Number(v["size-gib"] ?? 16),
    ioGiB: Number(v["io-gib"] ?? 1),
    budgetMiB: v["budget-mib"] === undefined ? undefined : Number(v["budget-mib"]),
    out: v.out ?? join(ROOT, "bench/results"),
    echo: v.echo ?? false,
  };
  if (!(Number.isInteger(a.sizeGiB) && a.sizeGiB >= 1)) fail(COMMAND, "--size-gib: a whole number of GiB, >= 1");
  if (!(a.ioGiB > 0 && a.ioGiB <= a.sizeGiB)) fail(COMMAND, "--io-gib: more than 0, at most the size");
  if (a.budgetMiB !== undefined && !(a.budgetMiB > 0)) fail(COMMAND, "--budget-mib: a positive number");
  return a;
}

const args = readArgs();
const started = performance.now();
function say(msg: string): void {
  process.stderr.write(`[bench:big ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
}

/**
 * Resident set (bytes, /proc/PID/status VmRSS) of each of Chromium's renderer processes below this
 * one. The tab's is the largest: the others are Chromium's spare renderer and the like.
 */
function rendererRss(): { tab: number; all: number } {
  const procs = new Map<number, { ppid: number; renderer: boolean; rss: number }>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, "utf8");
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
      const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
      const renderer = readFileSync(`/proc/${d}/cmdline`, "utf8").includes("--type=renderer");
      procs.set(Number(d), { ppid, renderer, rss });
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const todo = [...procs].filter(([, v]) => v.ppid === process.pid).map(([p]) => p);
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    const me = procs.get(p)!;
    if (me.renderer) found.push(me.rss);
    for (const [child, v] of procs) if (v.ppid === p) todo.push(child);
  }
  return { tab: Math.max(0, ...found), all: found.reduce((a, b) => a + b, 0) };
}

interface FioDir {
  io_bytes?: number;
  bw_bytes?: number;
  iops?: number;
  runtime?: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "v86nvme-big-"));
  const size = args.sizeGiB * GiB;
  const fd = openSync(join(dir, "big.img"), "w");
  ftruncateSync(fd, size); // sparse: no blocks allocated
  closeSync(fd);
  let nginx: Nginx | undefined;
  let platform: Platform | undefined;
  let g: BenchGuest | undefined;
  try {
    nginx = await startNginx(dir, { say });
    // OPFS on the host's disk, not in the browser's memory; a cross-origin isolated page, which can measure its memory.
    platform = await chromiumPlatform(say, { persistent: true, isolated: true });
    const url = `${nginx.url}big.img`;
    say(`booting: namespace 1 the default image over HTTP, namespace 2 ${args.sizeGiB} GiB blank at ${url}`);
    const rss0 = rendererRss();
    g = await platform.boot({
      nvme: true,
      ide: false,
      label: "nvme",
      appendBytes: 0,
      serial: "V86BIG0001",
      shadowDoorbells: true,
      bootTimeoutMs: 300_000,
      echo: args.echo,
      rootOverHttp: true,
      disks: [{ kind: "http", url, ...(args.budgetMiB !== undefined ? { memoryBudget: args.budgetMiB * MiB } : {}) }],
    });
    say(`shell after ${(g.runToPromptMs / 1000).toFixed(1)} s`);
    const sectors = Number((await ok(g, "cat /sys/block/nvme0n2/size")).trim());
    if (sectors * 512 !== size) throw new Error(`nvme0n2 has ${sectors} sectors, expected ${size / 512}`);
    const rssBoot = rendererRss();
    const statsBoot = await g.diskStats();
    const memBoot = await g.memory();
    if (!memBoot) throw new Error("the page cannot measure its memory (not cross-origin isolated?)");
    const fioLine = [
      "fio --name=big --filename=/dev/nvme0n2 --rw=randwrite --bs=64k",
      `--size=${args.sizeGiB}G --io_size=${Math.round(args.ioGiB * 1024)}M`,
      "--direct=1 --ioengine=libaio --iodepth=16",
      "--verify=crc32c --do_verify=1 --verify_fatal=1",
      "--eta=never --output-format=json --output=/tmp/fio.json",
    ].join(" ");
    say(`fio: ${fioLine}`);
    let peak = rssBoot.tab;
    let peakAll = rssBoot.all;
    const samples: number[] = [];
    const sampler = setInterval(() => {
      const r = rendererRss();
      samples.push(r.tab);
      peak = Math.max(peak, r.tab);
      peakAll = Math.max(peakAll, r.all);
    }, 1000);
    // The page's own measure (after a GC: live bytes), one at a time, every few seconds.
    let memPeak: PageMemory = memBoot;
    const memSamples: PageMemory[] = [];
    let measuring = true;
    const measured = (async () => {
      while (measuring) {
        const m = await g!.memory().catch(() => undefined);
        if (m) {
          memSamples.push(m);
          if (pageTotal(m) > pageTotal(memPeak)) memPeak = m;
        }
        await new Promise((r) => setTimeout(r, 5000));
      }
    })();
    const t0 = performance.now();
    let fioStatus: number;
    let fioOut: string;
    try {
      const r = await g.run(`${fioLine}; echo "fio exit $?"`, 3 * 3600_000);
      fioOut = r.out;
      fioStatus = Number(/fio exit (\d+)/.exec(r.out)?.[1] ?? -1);
    } finally {
      clearInterval(sampler);
      measuring = false;
      await measured;
    }
    const fioSeconds = (performance.now() - t0) / 1000;
    const rssAfter = rendererRss();
    peak = Math.max(peak, rssAfter.tab);
    peakAll = Math.max(peakAll, rssAfter.all);
    const statsAfter = await g.diskStats();
    const memAfter = (await g.memory())!;
    if (pageTotal(memAfter) > pageTotal(memPeak)) memPeak = memAfter;
    const json = await ok(g, "cat /tmp/fio.json");
    const job = (JSON.parse(json.slice(json.indexOf("{"))) as { jobs: { write: FioDir; read: FioDir; error?: number }[] }).jobs[0];
    const dmesg = (await g.run("dmesg | grep -iE 'I/O error|blk_update|timed? ?out|nvme.*abort' | tail -5")).out.trim();
    await g.stop();
    g = undefined;
    const requests = nginx.requests();
    const target = MEMORY_SIZE + 256 * MiB;
    const report = {
      date: new Date().toISOString(),
      cpu: cpus()[0]?.model ?? "unknown",
      nproc: cpus().length,
      browser: platform.runtime,
      commit: deviceCommit(),
      loadavgEnd: loadavg(),
      diskBytes: size,
      memoryBudget: args.budgetMiB !== undefined ? args.budgetMiB * MiB : "default (128 MiB)",
      guestRam: MEMORY_SIZE,
      fio: {
        line: fioLine,
        status: fioStatus,
        seconds: fioSeconds,
        writeBytes: job.write.io_bytes ?? 0,
        writeBw: job.write.bw_bytes ?? 0,
        readBytes: job.read.io_bytes ?? 0,
        readBw: job.read.bw_bytes ?? 0,
        error: job.error ?? 0,
      },
      dmesg,
      rss: { beforeBoot: rss0.tab, afterBoot: rssBoot.tab, peak, afterFio: rssAfter.tab, target, peakAllRenderers: peakAll, samples },
      memory: { afterBoot: memBoot, peak: memPeak, afterFio: memAfter, target, samples: memSamples.map(pageTotal) },
      disks: { afterBoot: statsBoot, afterFio: statsAfter },
      http: { requests: requests.length, bytes: requests.reduce((n, r) => n + r.bytes, 0) },
      verdict: fioStatus === 0 && !job.error && !dmesg && pageTotal(memPeak) <= target ? "pass" : "fail",
    };
    mkdirSync(args.out, { recursive: true });
    const name = args.budgetMiB === undefined ? "big" : `big-budget-${args.budgetMiB}`;
    writeFileSync(join(args.out, `${name}.json`), JSON.stringify(report, null, 2) + "\n");
    const md = render(report, fioOut);
    writeFileSync(join(args.out, `${name}.md`), md);
    process.stdout.write(md);
    if (report.verdict !== "pass") throw new Error(`target missed or fio failed: see ${join(args.out, `${name}.md`)}`);
  } finally {
    if (g) {
      process.stderr.write(`--- serial tail ---\n${await g.tail(40).catch(() => "(none)")}\n`);
      await g.stop().catch(() => undefined);
    }
    await platform?.close().catch(() => undefined);
    await nginx?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

const mib = (n: number) => `${(n / MiB).toFixed(0)} MiB`;
const pageTotal = (m: PageMemory): number => m.bytes + m.wasm;

function overlay(stats: DiskStat[]): string {
  const d = stats.find((s) => s.nsid === 2);
  return d ? `${mib(d.residentBytes ?? 0)} in memory, ${mib(d.spilledBytes ?? 0)} spilled to OPFS` : "?";
}

function render(r: {
  date: string; cpu: string; nproc: number; browser: string; commit: string; diskBytes: number; memoryBudget: number | string; guestRam: number;
  fio: { line: string; status: number; seconds: number; writeBytes: number; writeBw: number; readBytes: number; readBw: number; error: number };
  dmesg: string; rss: { beforeBoot: number; afterBoot: number; peak: number; afterFio: number; target: number; peakAllRenderers: number };
  memory: { afterBoot: PageMemory; peak: PageMemory; afterFio: PageMemory; target: number };
  disks: { afterBoot: DiskStat[]; afterFio: DiskStat[] }; http: { requests: number; bytes: number }; verdict: string;
}, fioOut: string): string {
  return `# Big disk, bounded memory (npm run bench:big)

${r.date}, ${r.nproc} × ${r.cpu}, ${r.browser}, device code at ${r.commit}.
A blank ${r.diskBytes / GiB} GiB namespace 2 over HTTP (nginx, sparse file), overlay memory budget ${typeof r.memoryBudget === "number" ? mib(r.memoryBudget) : r.memoryBudget}; guest RAM ${mib(r.guestRam)}; namespace 1 the default image over HTTP.

| what | figure |
| --- | --- |
| fio | \`${r.fio.line}\` |
| fio exit status, verify | ${r.fio.status} (${r.fio.status === 0 && !r.fio.error ? "verify clean" : "FAILED"}), guest I/O errors: ${r.dmesg ? r.dmesg.replace(/\n/g, "; ") : "none"} |
| written, verified | ${mib(r.fio.writeBytes)} at ${(r.fio.writeBw / 1e6).toFixed(1)} MB/s, ${mib(r.fio.readBytes)} read back at ${(r.fio.readBw / 1e6).toFixed(1)} MB/s (${r.fio.seconds.toFixed(0)} s in all) |
| the page's memory: v86's wasm memory + measureUserAgentSpecificMemory (JS heaps of the page and its workers after a GC, their array buffers; it leaves wasm memory out), after boot, peak during fio, after | ${mib(pageTotal(r.memory.afterBoot))}, **${mib(pageTotal(r.memory.peak))}**, ${mib(pageTotal(r.memory.afterFio))} |
| at the peak: v86's wasm memory (guest RAM and the emulator's own), the page's JS, its workers' | ${mib(r.memory.peak.wasm)}, ${mib(r.memory.peak.page)}, ${mib(r.memory.peak.bytes - r.memory.peak.page)} |
| target (guest RAM + 256 MiB), on the page's memory | ${mib(r.memory.target)}: ${pageTotal(r.memory.peak) <= r.memory.target ? "held" : "MISSED"} |
| the tab's renderer RSS before boot, after boot | ${mib(r.rss.beforeBoot)}, ${mib(r.rss.afterBoot)} |
| the tab's renderer RSS peak during fio, after | **${mib(r.rss.peak)}**, ${mib(r.rss.afterFio)} |
| all renderer processes, peak (the tab's + Chromium's spare ones) | ${mib(r.rss.peakAllRenderers)} |
| target (guest RAM + 256 MiB), on the renderer's RSS (Chromium's own ${mib(r.rss.beforeBoot)} before boot included) | ${mib(r.rss.target)}: ${r.rss.peak <= r.rss.target ? "held" : "MISSED"} |
| overlay after boot | ${overlay(r.disks.afterBoot)} |
| overlay after fio | ${overlay(r.disks.afterFio)} |
| HTTP requests, bytes (both namespaces) | ${r.http.requests}, ${mib(r.http.bytes)} |
| verdict | ${r.verdict} |

${fioOut.includes("err=") ? "fio reported:\n\n```\n" + fioOut.slice(0, 2000) + "\n```\n" : ""}`;
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench:big: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
