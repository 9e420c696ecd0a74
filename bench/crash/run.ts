// npm run bench:crash: the persistent disk through many renderer crashes in headless Chromium on
// the real Origin Private File System. Each crash: a page runs the workload of page-workload.ts
// (writes, FUA writes, zeroing, discards, flushes; each acknowledgement on the console), CDP
// Page.crash kills its renderer after a seeded delay, a new page reopens the disk and every block
// is judged against what was acknowledged (cycle.ts). Crashes alternate between an empty disk and
// an overlay over a base; each disk lives on from crash to crash. Writes bench/results/crash.md
// (the outcome of every crash, with its seed) and crash.json.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "@playwright/test";
import playwrightConfig from "../../playwright.config.ts";
import { fail, parseFlags } from "../../scripts/cli-args.ts";
import { ROOT } from "../../test/project-guest/image.ts";
import { deviceCommit } from "../device-commit.ts";
import { startDevServer } from "../dev-server.ts";
import { crashOnce, type CrashOutcome } from "./cycle.ts";
import { BASE_TAG } from "./page-workload.ts";

const command = {
  name: "bench:crash",
  run: "npm run bench:crash --",
  flags: {
    crashes: { type: "string", arg: "N", help: "how many crashes (default 120)" },
    seed: { type: "string", arg: "S", help: "the first seed (default 1); crash i uses seed S+i" },
    blocks: { type: "string", arg: "N", help: "4 KiB blocks per disk (default 256)" },
  },
} as const;

const flags = parseFlags(command);
const crashes = Number(flags.crashes ?? 120);
const firstSeed = Number(flags.seed ?? 1);
const blocks = Number(flags.blocks ?? 256);
if (!Number.isInteger(crashes) || crashes < 1) fail(command, `--crashes ${flags.crashes}: a positive integer`);
if (!Number.isInteger(firstSeed)) fail(command, `--seed ${flags.seed}: an integer`);
if (!Number.isInteger(blocks) || blocks < 8) fail(command, `--blocks ${flags.blocks}: an integer from 8`);

/** The seeded crash delay: 20 ms to 1.5 s after the workload started. */
const delayOf = (seed: number) => 20 + (Math.imul(seed, 2654435761) >>> 0) % 1480;

const { server, base } = await startDevServer();
const browser = await chromium.launch({ ...(playwrightConfig.use?.launchOptions ?? {}), executablePath: "/usr/bin/chromium", headless: true });
const context = await browser.newContext();
const outcomes: CrashOutcome[] = [];
const t0 = Date.now();
try {
  const state = { plain: new Array<number>(blocks).fill(0), overlay: new Array<number>(blocks).fill(BASE_TAG) };
  let seq = 1;
  for (let i = 0; i < crashes; i++) {
    const seed = firstSeed + i;
    const overlay = i % 2 === 1;
    const o = await crashOnce(
      context,
      base,
      { name: overlay ? "bench-crash-overlay" : "bench-crash-plain", blocks, seed, overlay, firstSeq: seq, reset: i < 2 },
      delayOf(seed),
      overlay ? state.overlay : state.plain,
    );
    outcomes.push(o);
    if (overlay) state.overlay = o.after;
    else state.plain = o.after;
    seq += o.writes + 1000;
    console.log(`crash ${i + 1}/${crashes} seed ${seed} ${overlay ? "overlay" : "empty "} at ${o.delayMs} ms: ${o.writes} writes, ${o.acks} acks, ${o.acked} as acknowledged, ${o.newer} newer; reopened in ${o.reopenMs} ms (${o.reopenAttempts} pages)${o.broken.length ? `; BROKEN: ${o.broken.slice(0, 3).join("; ")}` : ""}`);
  }
} finally {
  await context.close();
  await browser.close();
  await server.close();
}

const broken = outcomes.filter((o) => o.broken.length > 0);
const minutes = (Date.now() - t0) / 60_000;
const sum = (f: (o: CrashOutcome) => number) => outcomes.reduce((a, o) => a + f(o), 0);
const lines = [
  "# Persistent disk through renderer crashes (`npm run bench:crash`)",
  "",
  `${new Date().toISOString().slice(0, 10)}, device commit ${deviceCommit()}, Chromium ${browser.version()}, ${crashes} crashes (seeds ${firstSeed}-${firstSeed + crashes - 1}), ${blocks} blocks of 4 KiB per disk, ${minutes.toFixed(1)} min.`,
  "",
  `**${crashes - broken.length} of ${crashes} crashes kept every promise**; ${sum((o) => o.writes)} writes and ${sum((o) => o.acks)} acknowledged flushes/FUA writes before the crashes; ` +
    `after them ${sum((o) => o.acked)} blocks read as acknowledged and ${sum((o) => o.newer)} as a newer, unacknowledged version (never an older one, never a torn block).`,
  "",
  "| # | seed | disk | crash after | writes | acks | blocks as acknowledged | newer | reopened after | broken promises |",
  "|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
  ...outcomes.map((o, i) => `| ${i + 1} | ${o.seed} | ${o.overlay ? "overlay" : "empty"} | ${o.delayMs} ms | ${o.writes} | ${o.acks} | ${o.acked} | ${o.newer} | ${o.reopenMs} ms | ${o.broken.length ? o.broken.slice(0, 2).join("; ") : "none"} |`),
  "",
];
const dir = join(ROOT, "bench", "results");
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, "crash.md"), lines.join("\n"));
writeFileSync(join(dir, "crash.json"), JSON.stringify(outcomes.map(({ after: _after, ...o }) => o), null, 1) + "\n");
console.log(`${crashes - broken.length}/${crashes} crashes kept every promise; bench/results/crash.md`);
process.exitCode = broken.length ? 1 : 0;
