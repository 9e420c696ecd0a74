// A Linux guest on the demo page's persistent disk through renderer crashes: the guest (booted
// cold: a persistent disk is never resumed from the saved state) writes files of random content
// under /root/cg with `dd conv=fsync` (ext4's commit for the fsync of a new file takes its
// directory entry along; busybox fsync of the directory too, if built in), and prints
// `ACK <file> <md5>` on the serial console for each. At a seeded moment after the first acknowledgements the renderer
// is crashed (CDP Page.crash); then
//  - a blank page of the same origin reads what the disk holds of the root partition, and the
//    host's e2fsck checks it as the crash left it: clean, or clean after only a journal replay
//    (`e2fsck -E journal_only`, then `e2fsck -fn` finds nothing; the guest has no e2fsck, and a
//    boot would replay the journal before anything could look); every acknowledged file so far
//    must read back with its md5 (debugfs);
//  - a new page opens the same disk and boots it, and the guest's md5sum of every acknowledged
//    file must match too. That guest runs the next crash's workload.
// One crash by default (two cold boots). CRASH_GUEST_N=<n> runs n crashes in a row on the same
// disk (n + 1 boots, about a minute each on two cores); CRASH_GUEST_SEED=<s> picks the first seed
// (crash i uses seed s + i - 1; the delay after the first acknowledgements is 0.2-3.2 s).

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test, type BrowserContext, type Page } from "@playwright/test";
import { readAfterCrash } from "../../bench/crash/cycle.ts";
import { mulberry32 } from "../../src/rng.ts";
import { BOOT_TIMEOUT, plain, runInGuest, serialText, waitForPrompt } from "./page-guest.ts";
import { fsck, IMAGE_FILE, mbrPartition, md5In, persistentRuns, writePartition } from "./guest-fs-check.ts";

const CRASHES = Number(process.env.CRASH_GUEST_N ?? 1);
const FIRST_SEED = Number(process.env.CRASH_GUEST_SEED ?? 1);
/** Acknowledgements seen before the seeded delay starts. */
const FIRST_ACKS = 2;

test.use({ trace: "off" });

/** A new page of the demo, its HMR socket kept local (no reload mid-test), dialogs accepted. */
/** Warnings and errors each demo page printed (what the device logged), for a failing boot's message. */
const consoles = new WeakMap<Page, string[]>();

async function demoPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  const lines: string[] = [];
  consoles.set(page, lines);
  page.on("console", (m) => void (["warning", "error"].includes(m.type()) && lines.push(`${m.type()}: ${m.text()}`)));
  page.on("pageerror", (e) => void lines.push(`page error: ${e.message}`));
  page.on("dialog", (d) => void d.accept()); // "Reset disk…" asks first
  await page.routeWebSocket(/.*/, () => {});
  await page.goto("/");
  await page.waitForFunction(() => !!window.nvmeDemo);
  return page;
}

async function waitForShell(page: Page): Promise<void> {
  await waitForPrompt(page, BOOT_TIMEOUT).catch(async (e) => {
    const serial = plain(await serialText(page)).split("\n").slice(-15).join("\n");
    throw new Error(`${e instanceof Error ? e.message : e}\nthe page's console:\n${consoles.get(page)!.slice(-30).join("\n")}\nthe serial console's end:\n${serial}`);
  });
  const { state, error, persistent } = await page.evaluate(() => ({ state: window.nvmeDemo.state, error: window.nvmeDemo.error, persistent: window.nvmeDemo.disk?.persistent }));
  expect(error ?? "", "page error").toBe("");
  expect(state).toBe("running");
  expect(persistent).toBe(true);
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

const ACK = /^ACK (c\d+\/f\d+) ([0-9a-f]{32})$/gm;
const acksIn = (serial: string): [string, string][] => [...plain(serial).matchAll(ACK)].map((m) => [m[1], m[2]]);

/** The workload: new files of 1-128 KiB of random bytes, each fsynced before its ACK line. */
function workload(dir: string): string {
  const d = `/root/cg/${dir}`;
  return (
    `mkdir -p ${d} && (i=0; while :; do i=$((i+1)); f=${d}/f$i; ` +
    `dd if=/dev/urandom of=$f bs=1k count=$((1 + RANDOM % 128)) conv=fsync 2>/dev/null || break; ` +
    `busybox fsync ${d} 2>/dev/null; echo "ACK ${dir}/f$i $(md5sum < $f | cut -c1-32)"; done) & true`
  );
}

test("files a Linux guest fsynced on the persistent disk survive renderer crashes, and e2fsck finds the file system clean", async ({ browser }) => {
  test.setTimeout(BOOT_TIMEOUT + CRASHES * (BOOT_TIMEOUT + 180_000));
  const context = await browser.newContext();
  const work = mkdtempSync(join(tmpdir(), "crash-guest-"));
  const part = mbrPartition(IMAGE_FILE, 2);
  // The disk is an overlay over the served image, known by its URL only: a rebuild of the image
  // during the run (a guest build beside it) leaves the overlay over other bytes.
  const built = statSync(IMAGE_FILE).mtimeMs;
  const sameImage = () => expect(statSync(IMAGE_FILE).mtimeMs, `${IMAGE_FILE} was rebuilt during the run`).toBe(built);
  const rows: string[] = [];
  /** Every file acknowledged so far, over all crashes, with its md5. */
  const acked = new Map<string, string>();
  try {
    // A fresh persistent disk over the bundled image (Reset asks, then boots).
    let page = await demoPage(context);
    await page.locator("#disk-persistent").check();
    await page.locator("#disk-reset").click();
    await waitForShell(page);
    const t0 = Date.now();
    for (let c = 1; c <= CRASHES; c++) {
      const seed = FIRST_SEED + c - 1;
      const delay = 200 + Math.floor(mulberry32(seed)() * 3000);
      const dir = `c${c}`;
      const started = await runInGuest(page, workload(dir));
      expect(started.status).toBe(0);
      await expect
        .poll(async () => acksIn(await serialText(page)).length, { timeout: 120_000, intervals: [200] })
        .toBeGreaterThanOrEqual(FIRST_ACKS);
      await page.waitForTimeout(delay);
      // What the console showed before the crash: these files were fsynced.
      const seen = acksIn(await serialText(page));
      const crashed = new Promise<void>((r) => page.once("crash", () => r()));
      void (await context.newCDPSession(page)).send("Page.crash").catch(() => {});
      await crashed;
      await page.close().catch(() => {});
      const tCrash = Date.now();
      for (const [f, md5] of seen) acked.set(f, md5);

      // The disk as the crash left it, before any boot touches it (the dead renderer's file handles may take a moment to go).
      const { value: read, lastError } = await readAfterCrash(context, test.info().project.use.baseURL!, (reader) => persistentRuns(reader, part.offset, part.bytes));
      expect(read, `reopening the disk: ${lastError}`).toBeDefined();
      sameImage();
      const tRead = Date.now();
      const file = join(work, `root-${c}.img`);
      writePartition(file, part, read!.runs);
      const fs = fsck(file);
      const fsckText = `${fs.replay ? `replay (${fs.replay.status}):\n${fs.replay.out}\n` : ""}check (${fs.check.status}):\n${fs.check.out}`;
      if (process.env.CRASH_GUEST_VERBOSE) console.log(fsckText);
      expect(fs.replay?.status ?? 0, fsckText).toBeLessThanOrEqual(1); // 1: the journal was replayed
      expect(fs.check.status, fsckText).toBe(0);
      const onHost = [...acked].filter(([f, md5]) => md5In(file, `/root/cg/${f}`) !== md5).map(([f]) => f);
      expect(onHost, "acknowledged files whose md5 differs (or missing) in the image after the replay").toEqual([]);
      rmSync(file);
      const tChecked = Date.now();

      // The same disk boots again, and the guest reads every acknowledged file back.
      page = await demoPage(context);
      await waitForShell(page).catch((e) => (sameImage(), Promise.reject(e)));
      const tBooted = Date.now();
      const sums = await runInGuest(page, "cd /root/cg && md5sum c*/f* 2>/dev/null; cd /", 120_000);
      const inGuest = new Map([...sums.out.matchAll(/^([0-9a-f]{32})\s+(c\d+\/f\d+)$/gm)].map((m) => [m[2], m[1]]));
      const wrong = [...acked].filter(([f, md5]) => inGuest.get(f) !== md5).map(([f, md5]) => `${f}: acknowledged ${md5}, reads ${inGuest.get(f) ?? "nothing"}`);
      expect(wrong, "acknowledged files the booted guest reads otherwise").toEqual([]);
      const unacked = [...inGuest.keys()].filter((f) => f.startsWith(`${dir}/`) && !acked.has(f)).length;
      rows.push(
        `crash ${c} (seed ${seed}, ${delay} ms after ${FIRST_ACKS} acks): ${seen.length} files acknowledged before it (${acked.size} in all), ` +
          `${unacked} newer unacknowledged ones there too; ${(read!.stored / 2 ** 20).toFixed(1)} MiB stored; ` +
          `${fs.neededRecovery ? `journal replayed (e2fsck ${fs.replay!.status})` : "no journal replay"}, e2fsck -fn clean; ` +
          `after the crash: disk read in ${secs(tRead - tCrash)}, checked in ${secs(tChecked - tRead)}, booted in ${secs(tBooted - tChecked)}`,
      );
      console.log(rows.at(-1));
    }
    test.info().annotations.push({ type: "crashes", description: `${rows.join("\n")}\n${CRASHES} crash(es) in ${((Date.now() - t0) / 1000).toFixed(0)} s` });
  } finally {
    rmSync(work, { recursive: true, force: true });
    await context.close();
  }
});
