// The Playwright fixture's promise, measured (issue 12): a test gets a freshly booted guest by a
// restore of the snapshot taken right after boot instead of a boot. Library build in dist/ (npm run
// bench:fixture builds it first), Debian's Chromium, the project's guest.
//
//   tsx bench/fixture.ts [--memory 128,256] [--rounds N] [--no-suite] [--suite-only]
//
// 1. For each guest RAM size (MiB), one page through the fixture's own GuestPage: the boot (files
//    into the page, boot to the prompt, snapshot), then N rounds of restore + `exec("true")` (a
//    test's wait for a usable guest), then in the page v86's save_state() and restore_state()
//    alone, the disk overlay's save and restore, and a plain copy of guest RAM for scale.
// 2. The 20-test example suite (examples/consumer/tests/fixture) run by Playwright against dist/
//    (bench/fixture-suite.config.ts), twice: first with an empty state cache (a worker makes the
//    image's state under Node, the other waits), then again with the state there: the suite's
//    wall time, each test's restore and duration.
//
// Output: Markdown on stdout and in bench/results/fixture.md, JSON in fixture.json (with
// --suite-only: fixture-suite.md and .json).

import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "@playwright/test";
import { GuestPage } from "../src/playwright/guest-page.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const FILES = {
  image: join(ROOT, "public/guest/disk.img"),
  bios: join(ROOT, "public/bios/bios-256k.bin"),
  vgaBios: join(ROOT, "public/bios/vgabios-stdvga.bin"),
};

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const MEMORY = arg("memory", "128,256").split(",").map(Number);
const ROUNDS = Number(arg("rounds", "10"));
const SUITE = !args.includes("--no-suite");
const MEMORY_RUNS = !args.includes("--suite-only");

const log = (s: string): void => void process.stderr.write(`${s}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number): string => `${Math.round(x).toLocaleString("en")} ms`;
const s1 = (x: number): string => `${(x / 1000).toFixed(1)} s`;

interface Breakdown {
  saveState: number;
  restoreState: number;
  overlaySave: number;
  overlayRestore: number;
  ramCopy: number;
  stateBytes: number;
}

interface MemoryResult {
  memoryMiB: number;
  boot: GuestPage["timings"];
  /** Page-side restore, per round. */
  restore: number[];
  /** Node-side: restore + exec("true"), per round: a test's wait for a usable guest. */
  ready: number[];
  breakdown: Breakdown[];
}

async function measureMemory(browser: import("@playwright/test").Browser, memoryMiB: number): Promise<MemoryResult> {
  log(`boot with ${memoryMiB} MiB ...`);
  const g = await GuestPage.open(browser, { ...FILES, memory: memoryMiB << 20 });
  try {
    log(`  ${JSON.stringify(g.timings)}`);
    const restore: number[] = [];
    const ready: number[] = [];
    await g.reset();
    await g.exec("true"); // warm-up round, not counted
    for (let i = 0; i < ROUNDS; i++) {
      // A little work between rounds, as a test does: RAM and disk change.
      await g.exec(`dd if=/dev/urandom of=/root/r${i} bs=64k count=16 2>/dev/null; sync`);
      const t0 = performance.now();
      restore.push(await g.reset());
      await g.exec("true");
      ready.push(performance.now() - t0);
    }
    log(`  restore median ${ms(median(restore))}, ready median ${ms(median(ready))}`);
    const breakdown: Breakdown[] = [];
    for (let i = 0; i < 5; i++) {
      await g.exec(`dd if=/dev/urandom of=/root/b${i} bs=64k count=16 2>/dev/null; sync`);
      breakdown.push(
        await g.page.evaluate(async () => {
          const guest = window.v86nvme.guest();
          const e = guest.emulator;
          const t0 = performance.now();
          const state = await e.save_state();
          const t1 = performance.now();
          const overlay = guest.disk.saveOverlay();
          const t2 = performance.now();
          await e.restore_state(state);
          const t3 = performance.now();
          guest.disk.restoreOverlay(overlay);
          const t4 = performance.now();
          // A plain copy of as many bytes as guest RAM, between two buffers of the page (both
          // touched first, so the copy pays no page faults).
          const size = (e as unknown as { v86: { cpu: { memory_size: Uint32Array } } }).v86.cpu.memory_size[0];
          const from = new Uint8Array(size).fill(1);
          const to = new Uint8Array(size).fill(2);
          const t5 = performance.now();
          to.set(from);
          const t6 = performance.now();
          return { saveState: t1 - t0, overlaySave: t2 - t1, restoreState: t3 - t2, overlayRestore: t4 - t3, ramCopy: t6 - t5, stateBytes: state.byteLength };
        }),
      );
    }
    await g.reset();
    await g.exec("true");
    return { memoryMiB, boot: g.timings, restore, ready, breakdown };
  } finally {
    await g.close();
  }
}

interface SuiteResult {
  label: string;
  wallMs: number;
  passed: number;
  failed: number;
  boot: GuestPage["timings"] | undefined;
  tests: { title: string; durationMs: number; restoreMs: number; status: string }[];
}

interface JsonSuite {
  specs?: { title: string; tests: { results: { duration: number; status: string; annotations?: { type: string; description?: string }[] }[] }[] }[];
  suites?: JsonSuite[];
}

function runSuite(label: string, stateCache: string): SuiteResult {
  const out = join(tmpdir(), `v86-nvme-fixture-suite-${process.pid}.json`);
  log(`the 20-test example suite, ${label} ...`);
  const t0 = performance.now();
  const run = spawnSync("npx", ["playwright", "test", "-c", "bench/fixture-suite.config.ts", "--reporter=json"], {
    cwd: ROOT,
    env: { ...process.env, PLAYWRIGHT_JSON_OUTPUT_NAME: out, V86NVME_STATE_CACHE: stateCache },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const wallMs = performance.now() - t0;
  const report = JSON.parse(readFileSync(out, "utf8")) as { suites: JsonSuite[] };
  rmSync(out, { force: true });
  const tests: SuiteResult["tests"] = [];
  let boot: SuiteResult["boot"];
  const walk = (s: JsonSuite): void => {
    for (const spec of s.specs ?? []) {
      for (const t of spec.tests) {
        for (const r of t.results) {
          const note = (type: string) => r.annotations?.find((a) => a.type === type)?.description;
          if (note("v86-nvme boot timings")) boot = JSON.parse(note("v86-nvme boot timings")!);
          tests.push({ title: spec.title, durationMs: r.duration, restoreMs: Number.parseFloat(note("v86-nvme restore") ?? "NaN"), status: r.status });
        }
      }
    }
    for (const c of s.suites ?? []) walk(c);
  };
  report.suites.forEach(walk);
  const passed = tests.filter((t) => t.status === "passed").length;
  if (run.status !== 0) log(`the suite failed (exit ${run.status}): ${tests.length - passed} of ${tests.length} tests not passed`);
  return { label, wallMs, passed, failed: tests.length - passed, boot, tests };
}

function markdown(mem: MemoryResult[], suites: SuiteResult[], meta: Record<string, string>): string {
  const lines = [
    `Playwright fixture: restore vs boot (${meta.date}, ${meta.cpu}, load average ${meta.load}, commit ${meta.commit})`,
    "",
    "| guest RAM | boot to prompt | files into the page | snapshot (size) | restore, median (max) | restore + first exec, median (max) | boot ÷ ready |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const m of mem) {
    lines.push(
      `| ${m.memoryMiB} MiB | ${s1(m.boot.bootMs)} | ${ms(m.boot.fetchMs)} | ${ms(m.boot.snapshotMs)} (${(m.boot.snapshotBytes / 2 ** 20).toFixed(0)} MiB) | ` +
        `${ms(median(m.restore))} (${ms(Math.max(...m.restore))}) | ${ms(median(m.ready))} (${ms(Math.max(...m.ready))}) | ` +
        `${Math.round(m.boot.bootMs / median(m.ready))}× |`,
    );
  }
  if (mem.length) lines.push("", "In the page, medians of 5: what a snapshot and a restore consist of", "", "| guest RAM | v86 save_state | v86 restore_state | overlay save | overlay restore | copy of guest RAM's size | state size |", "| --- | --- | --- | --- | --- | --- | --- |");
  if (mem.length) for (const m of mem) {
    const b = (k: keyof Breakdown) => median(m.breakdown.map((x) => x[k]));
    lines.push(`| ${m.memoryMiB} MiB | ${ms(b("saveState"))} | ${ms(b("restoreState"))} | ${b("overlaySave").toFixed(1)} ms | ${b("overlayRestore").toFixed(1)} ms | ${ms(b("ramCopy"))} | ${(b("stateBytes") / 2 ** 20).toFixed(0)} MiB |`);
  }
  for (const suite of suites) {
    const restores = suite.tests.map((t) => t.restoreMs).filter(Number.isFinite);
    lines.push(
      "",
      `Example suite, ${suite.label} (${suite.tests.length} tests, ${process.env.FIXTURE_WORKERS ?? 2} workers, default 128 MiB): ${suite.passed} passed, ${suite.failed} not; wall time ${s1(suite.wallMs)}` +
        (suite.boot ? `, of which the boot ${s1(suite.boot.bootMs)} (+ ${s1(suite.boot.fetchMs)} files, ${ms(suite.boot.snapshotMs)} snapshot)` : "") +
        `; restore per test median ${ms(median(restores))}, max ${ms(Math.max(...restores))}; test bodies ${s1(suite.tests.reduce((a, t) => a + t.durationMs, 0))} in all, ` +
        `the longest ${suite.tests.reduce((a, t) => (t.durationMs > a.durationMs ? t : a)).title} (${s1(Math.max(...suite.tests.map((t) => t.durationMs)))}).`,
    );
  }
  return lines.join("\n");
}

const meta = {
  date: new Date().toISOString().slice(0, 10),
  cpu: `${cpus().length} × ${cpus()[0]?.model.trim()}`,
  load: loadavg().map((x) => x.toFixed(1)).join(" "),
  commit: execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim(),
};
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
const mem: MemoryResult[] = [];
try {
  if (MEMORY_RUNS) for (const m of MEMORY) mem.push(await measureMemory(browser, m));
} finally {
  await browser.close();
}
const suites: SuiteResult[] = [];
if (SUITE) {
  const cache = mkdtempSync(join(tmpdir(), "v86-nvme-fixture-states-"));
  try {
    suites.push(runSuite("first run, no state yet", cache), runSuite("the state there", cache));
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}
meta.load += ` → ${loadavg().map((x) => x.toFixed(1)).join(" ")}`;
const md = markdown(mem, suites, meta);
console.log(md);
mkdirSync(join(ROOT, "bench/results"), { recursive: true });
// --suite-only keeps the page figures of the last full run.
const out = join(ROOT, `bench/results/fixture${MEMORY_RUNS ? "" : "-suite"}`);
writeFileSync(`${out}.md`, `${md}\n`);
writeFileSync(`${out}.json`, `${JSON.stringify({ meta, memory: mem, suites }, null, 2)}\n`);
