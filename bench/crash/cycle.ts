// One crash of a tab running the persistent-disk workload (page-workload.ts), from Node through
// Playwright: the workload starts, the renderer is crashed with CDP Page.crash after a seeded
// delay, a new page of the same origin reopens the disk, and what it reads is judged against what
// the crashed page had acknowledged on its console. Shared by `npm run bench:crash` and
// e2e/browser/crash.spec.ts.

import type { BrowserContext, Page } from "@playwright/test";
import { BASE_TAG, type WorkloadArgs } from "./page-workload.ts";

export interface CrashOutcome {
  seed: number;
  overlay: boolean;
  delayMs: number;
  /** Flushes and FUA writes acknowledged before the crash (as far as the console got). */
  acks: number;
  writes: number;
  /** Blocks reading the version the last acknowledgement covered. */
  acked: number;
  /** Blocks reading a newer, unacknowledged version (it got there anyway). */
  newer: number;
  /** Promises broken (empty when none). */
  broken: string[];
  /** Pages it took to reopen the disk (the dead renderer's file handles may take a moment to go). */
  reopenAttempts: number;
  /** Milliseconds from the crash to the disk read back. */
  reopenMs: number;
  /** The blocks as read after the crash (the next crash's starting point). */
  after: number[];
}

/** An empty page of the dev server's origin (OPFS and module imports work, no demo app). */
export async function blankPage(context: BrowserContext, base: string): Promise<Page> {
  const page = await context.newPage();
  await page.route("**/__crash-test.html", (r) => r.fulfill({ contentType: "text/html", body: "<!doctype html><title>crash test</title>" }));
  await page.goto(`${base}/__crash-test.html`);
  return page;
}

const MODULE = "/bench/crash/page-workload.ts";

/**
 * Runs one crash. `before`: what each block held when the workload started (the previous read-back,
 * or the fresh disk). Returns the outcome; `broken` lists every block that breaks a promise.
 */
export async function crashOnce(context: BrowserContext, base: string, args: WorkloadArgs, delayMs: number, before: number[]): Promise<CrashOutcome> {
  const page = await blankPage(context, base);
  const lines: string[] = [];
  page.on("console", (m) => lines.push(m.text()));
  const crashed = new Promise<void>((r) => page.once("crash", () => r()));
  void page.evaluate(async ([path, a]) => (await import(/* @vite-ignore */ path)).crashWorkload(a), [MODULE, args] as const).catch(() => {});
  const t0 = Date.now();
  while (!lines.includes("READY")) {
    if (Date.now() - t0 > 60_000) throw new Error(`the workload did not start: ${lines.join(" | ")}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, delayMs));
  const cdp = await context.newCDPSession(page);
  void cdp.send("Page.crash").catch(() => {});
  await crashed;
  const seen = lines.slice();
  await page.close().catch(() => {});

  // The same disk in a new page.
  const tCrash = Date.now();
  const { value: after, attempts, lastError } = await readAfterCrash(context, base, (reader) =>
    reader.evaluate(async ([path, a]) => (await import(/* @vite-ignore */ path)).crashReadBack(a) as Promise<number[]>, [MODULE, args] as const),
  );
  if (!after) {
    const reopen = { reopenAttempts: attempts, reopenMs: Date.now() - tCrash };
    return { seed: args.seed, overlay: args.overlay, delayMs, acks: 0, writes: 0, acked: 0, newer: 0, broken: [`cannot reopen: ${lastError}`], after: before, ...reopen };
  }
  return { ...judge(seen, before, after), seed: args.seed, overlay: args.overlay, delayMs, after, reopenAttempts: attempts, reopenMs: Date.now() - tCrash };
}

/**
 * Runs `read` in a new blank page until the crashed renderer has let go of the disk's files
 * (its handles may take a moment to go: "open elsewhere"), up to 40 tries 250 ms apart. Any
 * other error stops the tries; `value` is then undefined and `lastError` says why.
 */
export async function readAfterCrash<T>(context: BrowserContext, base: string, read: (page: Page) => Promise<T>): Promise<{ value: T | undefined; attempts: number; lastError: string }> {
  let lastError = "";
  for (let attempt = 1; attempt <= 40; attempt++) {
    const reader = await blankPage(context, base);
    try {
      return { value: await read(reader), attempts: attempt, lastError };
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
      if (!/open elsewhere|NoModificationAllowed/.test(lastError)) return { value: undefined, attempts: attempt, lastError };
      await new Promise((r) => setTimeout(r, 250));
    } finally {
      await reader.close();
    }
  }
  return { value: undefined, attempts: 40, lastError };
}

/** Judges the read-back against the console of the crashed page. */
export function judge(lines: string[], before: number[], after: number[]) {
  const promised = before.slice();
  let covered = -1;
  let acks = 0;
  let writes = 0;
  /** For each block, the versions given to it after the last acknowledgement. */
  const later = before.map(() => new Set<number>());
  const events: { first: number; count: number; seq: number }[] = [];
  /** The last write whose line arrived: later ones were written after every acknowledgement seen. */
  let logged = -1;
  for (const line of lines) {
    const [kind, a, b, c] = line.split(" ");
    if (kind === "W") {
      events.push({ first: Number(a), count: Number(b), seq: Number(c) });
      writes++;
      logged = Math.max(logged, Number(c));
    } else if (kind === "A") {
      acks++;
      covered = Number(a);
      for (const pair of b ? b.split(",") : []) {
        const [blk, v] = pair.split(":").map(Number);
        promised[blk] = v;
      }
    }
  }
  for (const e of events) {
    // A write numbered above what the last acknowledgement covered.
    if (e.seq > covered) for (let blk = e.first; blk < e.first + e.count; blk++) later[blk].add(e.seq);
  }
  const broken: string[] = [];
  let acked = 0;
  let newer = 0;
  const name = (v: number) => (v === 0 ? "zeros" : v === BASE_TAG ? "the base" : v === -1 ? "a torn mix" : `write #${v}`);
  for (let blk = 0; blk < after.length; blk++) {
    const v = after[blk];
    if (v === promised[blk]) acked++;
    else if (later[blk].has(v) || (v !== BASE_TAG && v > logged && v > covered && logged >= 0)) newer++;
    else broken.push(`block ${blk} reads ${name(v)}, acknowledged ${name(promised[blk])}${later[blk].size ? `, or later ${[...later[blk]].map(name).join(", ")}` : ""}`);
  }
  return { acks, writes, acked, newer, broken };
}
