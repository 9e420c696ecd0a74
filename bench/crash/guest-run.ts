// npm run bench:crash-guest: a Linux guest on a persistent (OPFS) disk through many renderer
// crashes in headless Chromium (guest-cycle.ts: each crash resumes the bundled guest from its
// saved state, hot-adds the persistent disk, runs fsynced file writes and FUA block writes, crashes
// the renderer at a seeded moment, and the host checks the disk: e2fsck and every acknowledgement).
// One disk lives through all the crashes. Writes bench/results/crash-guest.md (every crash with its
// seed) and crash-guest.json. Stops at the first crash that breaks a promise.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "@playwright/test";
import playwrightConfig from "../../playwright.config.ts";
import { fail, parseFlags } from "../../scripts/cli-args.ts";
import { ROOT } from "../../test/project-guest/image.ts";
import { deviceCommit } from "../device-commit.ts";
import { startDevServer } from "../dev-server.ts";
import { createDisk, guestCrash, type GuestCrashOutcome, type Promised } from "./guest-cycle.ts";

const command = {
  name: "bench:crash-guest",
  run: "npm run bench:crash-guest --",
  flags: {
    crashes: { type: "string", arg: "N", help: "how many crashes (default 100)" },
    seed: { type: "string", arg: "S", help: "the first seed (default 1); crash i uses seed S+i-1" },
  },
} as const;

const flags = parseFlags(command);
const crashes = Number(flags.crashes ?? 100);
const firstSeed = Number(flags.seed ?? 1);
if (!Number.isInteger(crashes) || crashes < 1) fail(command, `--crashes ${flags.crashes}: a positive integer`);
if (!Number.isInteger(firstSeed)) fail(command, `--seed ${flags.seed}: an integer`);

/** Writes bench/results/crash-guest.md and .json (after every crash: a run cut short keeps what it did). */
function report(): number {
  const ok = outcomes.filter((o) => o.verdict === "ok").length;
  const minutes = (Date.now() - t0) / 60_000;
  const sum = (f: (o: GuestCrashOutcome) => number) => outcomes.reduce((a, o) => a + f(o), 0);
  const median = (f: (o: GuestCrashOutcome) => number) => {
    const v = outcomes.map(f).sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)] : 0;
  };
  const s = (ms: number) => (ms / 1000).toFixed(1);
  const last = outcomes.at(-1);
  const lines = [
    "# A Linux guest on the persistent disk through renderer crashes (`npm run bench:crash-guest`)",
    "",
    `${new Date().toISOString().slice(0, 10)}, device commit ${deviceCommit()}, Chromium ${browser.version()}, ${outcomes.length} crashes (seeds ${firstSeed}-${firstSeed + outcomes.length - 1}), ${minutes.toFixed(1)} min${stopped ? ` (${stopped.split("\n")[0]})` : ""}.`,
    "",
    `**${ok} of ${outcomes.length} crashes kept every promise.** ${sum((o) => o.filesAcked)} files and ${sum((o) => o.rawAcked)} raw blocks were acknowledged before the crashes ` +
      `(${last?.filesTotal ?? 0} files and ${last?.rawTotal ?? 0} distinct blocks checked after the last one); ` +
      `${outcomes.filter((o) => o.fsck === "replayed").length} crashes left a journal to replay, ${outcomes.filter((o) => o.fsck === "clean").length} a clean file system; ` +
      `the disk received ${sum((o) => o.fuaWrites)} FUA writes (${sum((o) => o.rawFuaWrites)} of them to partition 2) and ${sum((o) => o.flushes)} flushes among ${sum((o) => o.writes)} writes (guest queue: ${last?.queue ?? "?"}).`,
    "",
    `Median times per crash: resume ${s(median((o) => o.ms.resume))} s, controller reset + attach + mount ${s(median((o) => o.ms.attach))} s, ` +
      `workload until the crash ${s(median((o) => o.ms.run))} s, disk read after the crash ${s(median((o) => o.ms.read))} s, host check ${s(median((o) => o.ms.check))} s, total ${s(median((o) => o.ms.total))} s.`,
    "",
    "| # | seed | crash after | files acked | raw blocks acked | files / blocks checked | blocks newer | writes | FUA (raw) | flushes | fsck | verdict | stored | total |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|",
    ...outcomes.map((o) =>
      `| ${o.crash} | ${o.seed} | ${o.delayMs} ms | ${o.filesAcked} | ${o.rawAcked} | ${o.filesTotal} / ${o.rawTotal} | ${o.rawNewer} | ${o.writes} | ${o.fuaWrites} (${o.rawFuaWrites}) | ${o.flushes} | ${o.fsck} | ${o.verdict === "ok" ? "ok" : `BROKEN: ${o.broken.slice(0, 3).join("; ")}`} | ${o.storedMiB} MiB | ${s(o.ms.total)} s |`),
    "",
  ];
  const dir = join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "crash-guest.md"), lines.join("\n"));
  writeFileSync(join(dir, "crash-guest.json"), JSON.stringify({ date: new Date().toISOString(), commit: deviceCommit(), chromium: browser.version(), stopped, outcomes }, null, 1) + "\n");
  return ok;
}

const NAME = "bench-crash-guest";
const { server, base } = await startDevServer();
const browser = await chromium.launch({ ...(playwrightConfig.use?.launchOptions ?? {}), executablePath: "/usr/bin/chromium", headless: true });
const context = await browser.newContext();
const outcomes: GuestCrashOutcome[] = [];
let stopped = "";
const t0 = Date.now();
try {
  await createDisk(context, base, NAME);
  const promised: Promised = { files: new Map(), raw: new Map() };
  for (let c = 1; c <= crashes; c++) {
    const o = await guestCrash(context, base, NAME, c, firstSeed + c - 1, promised);
    outcomes.push(o);
    console.log(
      `crash ${c}/${crashes} seed ${o.seed} at +${o.delayMs} ms: ${o.filesAcked} files, ${o.rawAcked} raw blocks acknowledged (${o.filesTotal} / ${o.rawTotal} in all, ${o.rawNewer} newer); ` +
        `${o.writes} writes, ${o.fuaWrites} FUA (${o.rawFuaWrites} raw), ${o.flushes} flushes; fsck ${o.fsck}; ${o.verdict}; ${(o.ms.total / 1000).toFixed(1)} s` +
        (o.broken.length ? `\n  ${o.broken.slice(0, 10).join("\n  ")}` : ""),
    );
    report();
    if (o.verdict !== "ok") {
      stopped = `stopped after crash ${c}: it broke a promise`;
      break;
    }
  }
} catch (e) {
  stopped = `stopped: ${e instanceof Error ? e.message : String(e)}`;
  console.error(stopped);
} finally {
  await context.close();
  await browser.close();
  await server.close();
}

const ok = report();
console.log(`${ok}/${outcomes.length} crashes kept every promise; bench/results/crash-guest.md`);
process.exitCode = ok === crashes ? 0 : 1;
