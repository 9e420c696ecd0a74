// v86's own state of the IDE guest, the copy.sh way: booted once in Chromium on v86's async IDE
// disk (bench/resume/page.ts, the image with syslinux's "ide" label), saved at the shell prompt
// with v86's save_state() and zstd-compressed (-19, which v86 restores natively). Cached under
// .cache/bench-resume/, keyed by the image (size, modification time), the RAM size and v86's
// version.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "@playwright/test";
import { CACHE } from "./site.ts";

export interface V86StateSpec {
  /** The IDE image's URL on the page's server, its size, and the file it is a copy of (for the key). */
  imageUrl: string;
  size: number;
  source: string;
  memory: number;
  v86Version: string;
  /** The page, bench/resume/page.html, on that server. */
  pageUrl: string;
}

export async function v86State(browser: Browser, o: V86StateSpec, say: (msg: string) => void): Promise<{ path: string; bytes: number; made: boolean }> {
  const st = statSync(o.source);
  const key = createHash("sha256").update(JSON.stringify([st.size, st.mtimeMs, o.memory, o.v86Version])).digest("hex").slice(0, 16);
  mkdirSync(CACHE, { recursive: true });
  const path = join(CACHE, `v86-ide-${key}.state.zst`);
  if (existsSync(path)) return { path, bytes: statSync(path).size, made: false };
  say(`making v86's own state of the IDE guest (cold boot in Chromium, then save_state, zstd -19): ${path}`);
  const raw = `${path}.${process.pid}.raw`;
  const context = await browser.newContext({ acceptDownloads: true });
  try {
    const page = await context.newPage();
    await page.goto(`${o.pageUrl}?image=${encodeURIComponent(o.imageUrl)}&size=${o.size}&memory=${o.memory}`);
    await page.waitForFunction(() => window.resumeBench !== undefined);
    await page.evaluate(() => window.resumeBench!.result.then(() => undefined), undefined);
    const download = page.waitForEvent("download", { timeout: 120_000 });
    await page.evaluate(() => window.resumeBench!.save());
    await (await download).saveAs(raw);
  } finally {
    await context.close();
  }
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    execFileSync("zstd", ["-19", "-T0", "-q", "-f", raw, "-o", tmp], { stdio: ["ignore", "ignore", "inherit"] });
    say(`v86's state: ${(statSync(raw).size / 1e6).toFixed(1)} MB raw, ${(statSync(tmp).size / 1e6).toFixed(1)} MB at zstd -19`);
    renameSync(tmp, path);
  } finally {
    rmSync(raw, { force: true });
    rmSync(tmp, { force: true });
  }
  return { path, bytes: statSync(path).size, made: true };
}
