// A Linux guest on a persistent disk through renderer crashes: five crashes of the guest crash
// cycle (bench/crash/guest-cycle.ts; `npm run bench:crash-guest` runs 100). Each crash resumes the
// bundled guest from its saved state in a new page of the demo, hot-adds the same persistent
// (OPFS) disk as namespace 2 with the controller's volatile write cache on, mounts its ext4
// partition (the kernel replays the journal the last crash left) and runs fsynced file writes and
// O_DIRECT + O_DSYNC (FUA) block writes to its raw partition, each acknowledged on the serial console
// with its md5; CDP Page.crash kills the renderer at a seeded moment; then the host checks what
// the disk holds: e2fsck clean or only a journal replay, every file and block ever acknowledged
// reads back with its md5. CRASH_GUEST_N=<n> runs n crashes, CRASH_GUEST_SEED=<s> picks the first
// seed (crash i uses seed s + i - 1).

import { expect, test } from "@playwright/test";
import { createDisk, guestCrash, type Promised } from "../../bench/crash/guest-cycle.ts";

const CRASHES = Number(process.env.CRASH_GUEST_N ?? 5);
const FIRST_SEED = Number(process.env.CRASH_GUEST_SEED ?? 1);

test.use({ trace: "off" });

test(`files and blocks a Linux guest acknowledged on the persistent disk survive ${CRASHES} renderer crashes, and e2fsck finds the file system clean`, async ({ browser }) => {
  test.setTimeout(60_000 + CRASHES * 120_000);
  const context = await browser.newContext();
  const base = test.info().project.use.baseURL!;
  const name = "crash-guest-spec";
  const promised: Promised = { files: new Map(), raw: new Map() };
  const rows: string[] = [];
  let rawFua = 0;
  const t0 = Date.now();
  try {
    await createDisk(context, base, name);
    for (let c = 1; c <= CRASHES; c++) {
      const o = await guestCrash(context, base, name, c, FIRST_SEED + c - 1, promised);
      rows.push(
        `crash ${c} (seed ${o.seed}, ${o.delayMs} ms after the first acknowledgement): ${o.filesAcked} files and ${o.rawAcked} raw blocks acknowledged ` +
          `(${o.filesTotal} and ${o.rawTotal} checked, ${o.rawNewer} blocks newer); ${o.writes} writes, ${o.fuaWrites} FUA, ${o.flushes} flushes; ` +
          `e2fsck ${o.fsck === "replayed" ? "clean after the journal replay" : "clean"}; ${(o.ms.total / 1000).toFixed(1)} s`,
      );
      console.log(rows.at(-1));
      expect(o.queue, "namespace 2 in the guest").toBe("write back, fua 1");
      expect(o.broken, `crash ${c} (seed ${o.seed}): broken promises`).toEqual([]);
      rawFua += o.rawFuaWrites;
    }
    expect(rawFua, "FUA writes to the raw partition (O_DIRECT + O_DSYNC)").toBeGreaterThan(0);
    expect(promised.files.size, "files acknowledged over all crashes").toBeGreaterThanOrEqual(CRASHES);
    test.info().annotations.push({ type: "crashes", description: `${rows.join("\n")}\n${CRASHES} crash(es) in ${((Date.now() - t0) / 1000).toFixed(0)} s` });
  } finally {
    await context.close();
  }
});
