// The persistent disk through renderer crashes in Chromium, on the real Origin Private File
// System: a page runs writes, FUA writes, zeroing and flushes (bench/crash/page-workload.ts),
// its renderer is crashed (CDP Page.crash) at a seeded moment, a new page reopens the same disk,
// and every block must read as what the last acknowledged flush or FUA write covered, or as a
// newer write it was given after (never older data, never a torn block). Five crashes in a row
// on one empty disk and one overlay; `npm run bench:crash` runs a hundred and more. A crash
// while the copy-on-write overlay spills to OPFS: the spill file is scratch, never data. And a
// crash in the middle of a Sanitize, and one in the middle of a Format NVM, of a persistent
// namespace: the reopened disk finishes the erase (never half erased) and says so.

import { expect, test, type BrowserContext, type Page } from "@playwright/test";
import { blankPage, crashOnce, readAfterCrash } from "../../bench/crash/cycle.ts";
import { BASE_TAG } from "../../bench/crash/page-workload.ts";

const BLOCKS = 256;

/**
 * Starts `work` in a new page (it evaluates something there that need not end) until the page's
 * console shows a line `ready` accepts, then crashes the renderer (CDP Page.crash, not a clean
 * close) and closes what is left of the page.
 */
async function crashWhen(context: BrowserContext, base: string, work: (page: Page) => Promise<unknown>, ready: (line: string) => boolean): Promise<void> {
  const page = await blankPage(context, base);
  const lines: string[] = [];
  page.on("console", (m) => lines.push(m.text()));
  void work(page).catch(() => {});
  await expect.poll(() => lines.some(ready), { timeout: 60_000 }).toBe(true);
  const crashed = new Promise<void>((r) => page.once("crash", () => r()));
  void (await context.newCDPSession(page)).send("Page.crash").catch(() => {});
  await crashed;
  await page.close().catch(() => {});
}

test("a persistent disk keeps every acknowledged write through five renderer crashes", async ({ context, baseURL }) => {
  const state = { plain: new Array<number>(BLOCKS).fill(0), overlay: new Array<number>(BLOCKS).fill(BASE_TAG) };
  let seq = 1;
  const rows: string[] = [];
  for (let seed = 1; seed <= 5; seed++) {
    const overlay = seed % 2 === 0;
    const before = overlay ? state.overlay : state.plain;
    const name = overlay ? "e2e-crash-overlay" : "e2e-crash-plain";
    const delay = 150 + ((seed * 7919) % 900);
    const fresh = seed <= 2;
    const o = await crashOnce(context, baseURL!, { name, blocks: BLOCKS, seed, overlay, firstSeq: seq, reset: fresh }, delay, before);
    rows.push(`seed ${seed} (${overlay ? "overlay" : "empty disk"}, crash at ${delay} ms): ${o.writes} writes, ${o.acks} acks; ${o.acked} blocks as acknowledged, ${o.newer} newer`);
    expect(o.broken.slice(0, 10), rows.at(-1)).toEqual([]);
    expect(o.writes).toBeGreaterThan(0);
    if (overlay) state.overlay = o.after;
    else state.plain = o.after;
    seq += o.writes + 1000;
  }
  console.log(rows.join("\n"));
});

test("a renderer crash while the overlay spills: after the reload nothing of the spill file is read as data, and it is swept", async ({ context, baseURL }) => {
  // A page whose overlay writes past its 1 MiB budget without end (its pages go to a spill file).
  await crashWhen(
    context,
    baseURL!,
    (page) => page.evaluate(async () => {
      const path = "/src/backends/cow-disk.ts";
      const { CowBackend } = await import(/* @vite-ignore */ path);
      const size = 64 * 1024 * 1024;
      const base = { byteLength: size, tryRead: (_o: number, d: Uint8Array) => (d.fill(0), true), read: async (_o: number, n: number) => new Uint8Array(n) };
      const disk = new CowBackend(base, { memoryBudget: 1024 * 1024 });
      for (let i = 0; ; i++) {
        disk.write((i % 64) * 1024 * 1024, new Uint8Array(1024 * 1024).fill(0xa5), false);
        if (disk.overlay.spilledBytes > 0) console.log(`SPILLED ${disk.overlay.spilledBytes}`);
        await new Promise((s) => setTimeout(s, 5));
      }
    }),
    (l) => l.startsWith("SPILLED"),
  );

  const after = await blankPage(context, baseURL!);
  const r = await after.evaluate(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("v86-nvme", { create: true });
    const spills = async () => {
      const names: string[] = [];
      for await (const [name] of dir as unknown as AsyncIterable<[string, unknown]>) if (name.startsWith("spill-")) names.push(name);
      return names.sort();
    };
    const left = await spills();
    const path = "/src/backends/cow-disk.ts";
    const { CowBackend } = await import(/* @vite-ignore */ path);
    const size = 64 * 1024 * 1024;
    const base = { byteLength: size, tryRead: (_o: number, d: Uint8Array) => (d.fill(0), true), read: async (_o: number, n: number) => new Uint8Array(n) };
    const disk = new CowBackend(base, { memoryBudget: 1024 * 1024 });
    const before = await disk.read(0, size);
    // Spilling again sweeps what the crashed page left (its file is no longer open anywhere).
    for (let i = 0; i < 4; i++) disk.write(i * 1024 * 1024, new Uint8Array(1024 * 1024).fill(i + 1), false);
    for (let t = 0; t < 200 && disk.overlay.spilledBytes === 0; t++) await new Promise((s) => setTimeout(s, 20));
    const during = await spills();
    const back = await disk.read(0, 4 * 1024 * 1024);
    await disk.close();
    return {
      left,
      during,
      zeros: before.every((x: number) => x === 0),
      backOk: [0, 1, 2, 3].every((i) => back.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024).every((x: number) => x === i + 1)),
      end: await spills(),
    };
  });
  await after.close();
  console.log(`spill crash: left by the crashed page ${JSON.stringify(r.left)}, while spilling again ${JSON.stringify(r.during)}, after close ${JSON.stringify(r.end)}`);
  expect(r.left.length, "the crashed page's spill file is there after the crash").toBeGreaterThan(0);
  expect(r.zeros, "a new overlay reads the base only").toBe(true);
  expect(r.during.filter((n) => r.left.includes(n)), "swept by the next spill").toEqual([]);
  expect(r.backOk).toBe(true);
  expect(r.end).toEqual([]);
});

type EraseOp = "format" | "sanitize";
const HALFWAY = "HALF ERASED, DURABLE";

/**
 * In the page: fills the persistent disk `name` (4 MiB of A5h, flushed), then runs the real admin
 * command `op` (src/admin/format.ts: Format NVM with a user data erase, or src/admin/sanitize.ts:
 * Sanitize Block Erase) on a namespace over it, beside a stand-in controller. The disk's discard
 * stops at half the disk: the half erased map is flushed, as a crash between the map's page
 * writes could leave it, HALFWAY is logged and the erase never goes on.
 */
async function eraseStoppedHalfway([name, op, halfway]: [string, EraseOp, string]): Promise<void> {
  const [{ OpfsBackend }, { Namespace }, { formatNvm }, { sanitize }, { SanitizeState }] = await Promise.all(
    ["/src/backends/opfs.ts", "/src/state/namespace.ts", "/src/admin/format.ts", "/src/admin/sanitize.ts", "/src/state/sanitize-state.ts"].map(
      (p) => import(/* @vite-ignore */ p),
    ),
  );
  const disk = await OpfsBackend.open({ name, size: 4 << 20, reset: true });
  await disk.write(0, new Uint8Array(4 << 20).fill(0xa5), false);
  await disk.flush();
  const half = disk.byteLength / 2;
  const discard = disk.discard.bind(disk);
  disk.discard = async (offset: number, length: number) => {
    if (offset + length < half) return discard(offset, length);
    if (offset < half) discard(offset, half - offset);
    await disk.flush();
    console.log(halfway);
    await new Promise(() => {});
  };
  const ns = new Namespace(1, { backend: disk }, "crash");
  const ctx = {
    namespaces: [ns],
    nsTable: { attached: (nsid: number) => (nsid === 1 ? ns : undefined), valid: () => true, changedElsewhere() {} },
    sanitize: new SanitizeState(),
    hold: (c: unknown) => c,
    isHeld: () => true,
    complete() {},
    log: (_l: string, m: string) => console.log(m),
  };
  if (op === "format") formatNvm(ctx, { opcode: 0x80, nsid: 1, cdw10: 1 << 9 });
  else sanitize(ctx, { opcode: 0x84, nsid: 0, cdw10: 2 });
}

/**
 * In a new page: the disk `name` reopened. What its open finished (`recovered`), how many of its
 * 4 KiB pages read as zeros and how many as the fill, and what a controller over it tells first:
 * blocked by a sanitize or not, SSTAT and SCDW10 of the Sanitize Status log (its first admin
 * command, here Get Log Page 81h, takes the disk's report). The disk is removed afterwards.
 */
async function reopenErased(name: string) {
  const [{ OpfsBackend }, { blockedBySanitize }, { SanitizeState }] = await Promise.all(
    ["/src/backends/opfs.ts", "/src/admin/sanitize.ts", "/src/state/sanitize-state.ts"].map((p) => import(/* @vite-ignore */ p)),
  );
  const disk = await OpfsBackend.open({ name, size: 4 << 20 });
  const bytes = await disk.read(0, disk.byteLength);
  let zeros = 0;
  let filled = 0;
  for (let at = 0; at < bytes.length; at += 4096) {
    const page = bytes.subarray(at, at + 4096);
    if (page.every((x: number) => x === 0)) zeros++;
    else if (page.every((x: number) => x === 0xa5)) filled++;
  }
  const ctx = { namespaces: [{ backend: disk }], sanitize: new SanitizeState() };
  const blocked = blockedBySanitize(ctx, { opcode: 0x02, cdw10: 0x81 });
  const log = new DataView((ctx.sanitize.bytes() as Uint8Array).buffer);
  await disk.close();
  await OpfsBackend.remove(name);
  const recovered: { op: EraseOp; cdw10: number } | undefined = disk.recovered;
  return { recovered, zeros, filled, pages: bytes.length / 4096, blocked, sstat: log.getUint16(2, true), scdw10: log.getUint32(4, true) };
}

/** Crashes the renderer while `op` is halfway through erasing a persistent disk; the disk reopened in a new page, and that page's warnings. */
async function crashMidErase(context: BrowserContext, base: string, op: EraseOp) {
  const name = `e2e-crash-${op}`;
  const args: [string, EraseOp, string] = [name, op, HALFWAY];
  await crashWhen(context, base, (page) => page.evaluate(eraseStoppedHalfway, args), (l) => l === HALFWAY);
  const warnings: string[] = [];
  const r = await readAfterCrash(context, base, (page) => {
    page.on("console", (m) => m.type() === "warning" && warnings.push(m.text()));
    return page.evaluate(reopenErased, name);
  });
  if (!r.value) throw new Error(`cannot reopen ${name} after the crash: ${r.lastError}`);
  const { zeros, filled, pages } = r.value;
  const outcome = zeros === pages ? "erased" : filled === pages ? "untouched" : `half: ${zeros} pages zeros, ${filled} the old data, of ${pages}`;
  console.log(`${op} crash: ${outcome}, ${JSON.stringify(r.value)}, reopened at try ${r.attempts}; ${warnings.join(" | ")}`);
  return { ...r.value, outcome, warnings };
}

test("a renderer crash in the middle of a Sanitize: the reopened disk finishes the erase and the Sanitize Status log says completed", async ({ context, baseURL }) => {
  const r = await crashMidErase(context, baseURL!, "sanitize");
  expect(r.recovered).toEqual({ op: "sanitize", cdw10: 2 });
  expect(r.outcome, "every 4 KiB reads as zeros").toBe("erased");
  expect(r.blocked).toBe(false);
  expect(r.sstat, "SSTAT: the most recent sanitize completed, Global Data Erased").toBe(0x101);
  expect(r.scdw10).toBe(2);
});

test("a renderer crash in the middle of a Format NVM: the reopened disk finishes the erase and says so, never half formatted", async ({ context, baseURL }) => {
  // The crash comes after the format was marked under way (durably, before its first block went):
  // the reopened disk must read erased. Without the mark it would have to read untouched.
  const r = await crashMidErase(context, baseURL!, "format");
  expect(r.outcome, "erased or untouched, never half").toMatch(/^(erased|untouched)$/);
  expect(r.recovered).toEqual({ op: "format", cdw10: 0 });
  expect(r.outcome, "every 4 KiB reads as zeros").toBe("erased");
  expect(r.warnings).toContain("persistent disk e2e-crash-format: finished the Format NVM a crash had cut short");
  // A format is no sanitize: a controller over the disk is not blocked and its log reports none.
  expect(r.blocked).toBe(false);
  expect(r.sstat, "SSTAT: never sanitized").toBe(0);
});
