// The guest benchmark's guests in Chromium: Debian's /usr/bin/chromium, headless, launched through
// Playwright's library API with playwright.config.ts's launch options, and vite's dev server
// (../dev-server.ts) serving bench/guest/page.html. Each boot gets a fresh browser context and
// page (page.ts); the BenchGuest methods are forwarded to window.benchGuest there.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "@playwright/test";
import playwrightConfig from "../../playwright.config.ts";
import { ROOT } from "../../test/project-guest/image.ts";
import { startDevServer } from "../dev-server.ts";
import type { BenchGuest, Platform } from "./host.ts";

/**
 * CPU seconds (user + system, all threads) used by the descendants of this process (the browser
 * Playwright started, with all of its processes), read from /proc. Counted per process between
 * calls, so that a renderer exiting with its closed page does not make the total go down.
 */
function childrenCpu(): () => number {
  let ticks = 100;
  try {
    ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    // the usual value
  }
  let seen = new Map<number, number>();
  let total = 0;
  return () => {
    const procs = new Map<number, { ppid: number; cpu: number }>();
    for (const d of readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, "utf8");
        // After the command name (in parentheses, may hold spaces): state ppid ... utime (14) stime (15).
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        procs.set(Number(d), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / ticks });
      } catch {
        // gone meanwhile
      }
    }
    const now = new Map<number, number>();
    const todo = [...procs].filter(([, v]) => v.ppid === process.pid).map(([p]) => p);
    for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
      const cpu = procs.get(p)!.cpu;
      now.set(p, cpu);
      total += cpu - (seen.get(p) ?? 0);
      for (const [child, v] of procs) if (v.ppid === p) todo.push(child);
    }
    seen = now;
    return total;
  };
}

type Methods = { [K in keyof BenchGuest as BenchGuest[K] extends (...a: never[]) => unknown ? K : never]: BenchGuest[K] };

/** The page's window.benchGuest, seen from here; stop() also closes the page (and its own context). */
function remoteGuest(page: Page, runToPromptMs: number, ownContext: boolean): BenchGuest {
  const call = <K extends keyof Methods>(name: K): Methods[K] =>
    ((...args: unknown[]) =>
      page.evaluate(([name, args]) => (window.benchGuest as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...args), [name, args] as const)) as Methods[K];
  return {
    runToPromptMs,
    run: call("run"),
    counters: call("counters"),
    doorbellPolicy: call("doorbellPolicy"),
    setDoorbellPolicy: call("setDoorbellPolicy"),
    mark: call("mark"),
    sample: call("sample"),
    busyWindow: call("busyWindow"),
    since: call("since"),
    instructions: call("instructions"),
    tail: call("tail"),
    diskStats: call("diskStats"),
    memory: call("memory"),
    stop: async () => {
      await call("stop")().catch(() => undefined);
      await (ownContext ? page.context().close() : page.close());
    },
  };
}

/**
 * `persistent`: one browser profile on disk (a temporary directory) for every boot, so that the
 * Origin Private File System is files on the host's disk, as for a user; otherwise each boot gets
 * a fresh incognito context, whose OPFS lives in the browser's memory. `isolated`: the page is
 * cross-origin isolated (COOP/COEP headers), so that it can measure its own memory
 * (BenchGuest.memory(); Chromium measures at once instead of at its next idle GC).
 */
export async function chromiumPlatform(say: (msg: string) => void, o: { persistent?: boolean; isolated?: boolean } = {}): Promise<Platform> {
  const { server, base } = await startDevServer({ isolated: o.isolated });
  const base0 = playwrightConfig.use?.launchOptions ?? {};
  const launch = {
    ...base0,
    executablePath: "/usr/bin/chromium",
    headless: true,
    ...(o.isolated ? { args: [...(base0.args ?? []), "--enable-blink-features=ForceEagerMeasureMemory"] } : {}),
  };
  const profile = o.persistent ? mkdtempSync(join(tmpdir(), "v86nvme-profile-")) : undefined;
  let browser: Browser;
  let shared: BrowserContext | undefined;
  try {
    if (profile) {
      shared = await chromium.launchPersistentContext(profile, launch);
      browser = shared.browser()!;
    } else browser = await chromium.launch(launch);
  } catch (e) {
    await server.close();
    throw e;
  }
  const playwright = (JSON.parse(readFileSync(join(ROOT, "node_modules/@playwright/test/package.json"), "utf8")) as { version: string }).version;
  const runtime = `Chromium ${browser.version()} (headless, /usr/bin/chromium, Playwright ${playwright}${profile ? ", profile on disk" : ""})`;
  say(`${runtime}, vite dev server at ${base}`);
  const b = browser;
  const cpuSeconds = childrenCpu();
  cpuSeconds();
  return {
    name: "chromium",
    runtime,
    cpuSeconds,
    async boot(o) {
      const context = shared ?? (await b.newContext());
      const page = await context.newPage();
      try {
        page.on("pageerror", (e) => say(`page error: ${e.message}`));
        page.on("console", (m) => {
          if (m.type() === "error" || m.type() === "warning") say(`page console ${m.type()}: ${m.text()}`);
        });
        await page.exposeFunction("benchEcho", (text: string) => process.stderr.write(text));
        await page.goto(`${base}/bench/guest/page.html`);
        await page.waitForFunction(() => window.benchPage !== undefined, undefined, { timeout: 120_000 });
        const ms = await page.evaluate((options) => window.benchPage!.boot(options), o);
        return remoteGuest(page, ms, !shared);
      } catch (e) {
        await (shared ? page.close() : context.close());
        throw e;
      }
    },
    async close() {
      await (shared ? shared.close() : b.close());
      await server.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
    },
  };
}
