// Resume benchmark (issue 20): page open → shell prompt when the demo page resumes this project's
// state file (NVMe disk read lazily over HTTP), side by side with v86's own ways of starting the
// same guest: its async IDE disk booted cold, and its own state image + async IDE disk (the
// copy.sh way), on the local link and behind bench/stream's throttling proxy; and under Node,
// bootGuest() → first exec result. One run, variants alternating, so the ratios hold on a noisy
// machine.
//
//   npm run bench:resume [-- --links local,80ms-20mbit] [--rounds N] [--variants a,b] [--node N] [--quick] [--out DIR]
//   npm run bench:resume -- --render bench/results/resume.json   (the Markdown again)
//
// The demo page (index.html) and bench/resume/page.html are built by vite and served with the
// guest's files by Debian's nginx (bench/stream/nginx.ts, `web`: scripts and wasm gzipped), so the
// time counts the page's own download as a deployed page's would. v86's state of the IDE guest is
// made once (bench/resume/v86-state.ts) and cached under .cache/bench-resume/.
// Output: bench/results/resume.{json,md}.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { chromium, type Browser, type Page } from "@playwright/test";
import playwrightConfig from "../../playwright.config.ts";
import { decodeStateFile } from "../../src/node/index.ts";
import { ROOT } from "../../test/project-guest/image.ts";
import { deviceCommit } from "../device-commit.ts";
import { startNginx, type Nginx, type NginxRequest } from "../stream/nginx.ts";
import { startThrottle, type Throttle } from "../stream/throttle.ts";
import { nodeRuns, type NodeRun } from "./node.ts";
import { LINKS, TARGET_LINK, VARIANTS, type V86Result, type Variant } from "./plan.ts";
import { renderMarkdown, summarize, type Bytes, type PageRun, type ResumeReport } from "./report.ts";
import { buildSite, type Site } from "./site.ts";
import { v86State } from "./v86-state.ts";

const say = (msg: string): void => void process.stderr.write(`bench:resume: ${msg}\n`);

const USAGE = `npm run bench:resume [-- options]

  --links a,b     links to measure (${LINKS.map((l) => l.name).join(", ")}); default local,${TARGET_LINK}
  --rounds N      page loads per link and variant, variants alternating (default 3)
  --variants a,b  ${VARIANTS.join(", ")} (default all; the ratios need all three)
  --node N        bootGuest() → exec runs under Node, each in a fresh process (default 5; 0: none)
  --quick         one round, Node 3 times (links as given, default both)
  --out DIR       where resume.json and resume.md go (default bench/results)
  --render FILE   the Markdown again from a resume.json
  --help          this text
`;

const TIMEOUT: Record<Variant, number> = { resume: 120_000, "ide-cold": 900_000, "ide-v86-state": 300_000 };

function fail(msg: string): never {
  process.stderr.write(`bench:resume: error: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

function args() {
  let v;
  try {
    v = parseArgs({
      args: process.argv.slice(2),
      options: {
        links: { type: "string" },
        rounds: { type: "string" },
        variants: { type: "string" },
        node: { type: "string" },
        quick: { type: "boolean", default: false },
        out: { type: "string", default: join(ROOT, "bench/results") },
        render: { type: "string" },
        help: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
  if (v.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const count = (s: string | undefined, name: string, dflt: number, min: number): number => {
    if (s === undefined) return dflt;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) fail(`--${name} takes an integer ≥ ${min}`);
    return n;
  };
  const links = (v.links ?? `local,${TARGET_LINK}`).split(",").filter(Boolean);
  for (const l of links) if (!LINKS.some((x) => x.name === l)) fail(`unknown link "${l}"`);
  const variants = (v.variants ?? VARIANTS.join(",")).split(",").filter(Boolean) as Variant[];
  for (const x of variants) if (!VARIANTS.includes(x)) fail(`unknown variant "${x}"`);
  return {
    links,
    variants,
    rounds: count(v.rounds, "rounds", v.quick ? 1 : 3, 1),
    node: count(v.node, "node", v.quick ? 3 : 5, 0),
    quick: v.quick!,
    out: v.out!,
    render: v.render,
  };
}

/** `p`, or an error after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no prompt within ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(timer));
}

function bytesOf(reqs: NginxRequest[]): Bytes {
  const b: Bytes = { total: 0, state: 0, disk: 0, page: 0, requests: reqs.length };
  for (const q of reqs) {
    b.total += q.bytes;
    if (q.path.endsWith(".state.zst")) b.state += q.bytes;
    else if (q.path.endsWith(".img")) b.disk += q.bytes;
    else b.page += q.bytes;
  }
  return b;
}

interface DemoLike {
  promptMs?: number;
  state: string;
  resumed: boolean;
  timings: Record<string, number>;
  error?: string;
}

/**
 * The demo page: page open → the prompt it shows, as the page takes it (nvmeDemo.promptMs, when
 * the prompt's last byte came out; v86's page is timed the same way). The poll that waits for it
 * reads Date.now() against the page's time origin too: `polledMs`.
 */
async function loadDemo(page: Page, base: string): Promise<Pick<PageRun, "promptMs" | "polledMs" | "timings" | "resumed">> {
  await page.goto(base);
  const at = await page.waitForFunction(() => {
    const x = (window as unknown as { nvmeDemo?: DemoLike }).nvmeDemo;
    if (x?.state === "error") return -1;
    return x?.promptMs !== undefined ? Date.now() - performance.timeOrigin : 0;
  }, undefined, { timeout: TIMEOUT.resume, polling: 10 });
  const polledMs = (await at.jsonValue()) as number;
  const r = await page.evaluate(() => {
    const d = (window as unknown as { nvmeDemo: DemoLike }).nvmeDemo;
    return { promptMs: d.promptMs, timings: d.timings, resumed: d.resumed, error: d.error, notice: document.getElementById("notice")?.textContent ?? "" };
  });
  if (r.error) throw new Error(`the demo page failed: ${r.error}`);
  if (!r.resumed) throw new Error(`the demo page booted cold instead of resuming: ${r.notice}`);
  return { promptMs: r.promptMs, polledMs, timings: r.timings, resumed: r.resumed };
}

/** bench/resume/page.html: v86's async IDE disk, cold or from v86's state. */
async function loadV86(page: Page, url: string, ms: number): Promise<V86Result> {
  await page.goto(url);
  await page.waitForFunction(() => window.resumeBench !== undefined, undefined, { timeout: 60_000 });
  try {
    return await within(page.evaluate(() => window.resumeBench!.result), ms, "v86's page");
  } catch (e) {
    const tail = await page.evaluate(() => window.resumeBench!.tail()).catch(() => "");
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${tail}`);
  }
}

function render(file: string): void {
  const report = JSON.parse(readFileSync(file, "utf8")) as ResumeReport;
  report.summary = summarize(report);
  const md = renderMarkdown(report);
  writeFileSync(join(dirname(file), "resume.md"), md);
  process.stdout.write(md);
}

function git(...a: string[]): string {
  try {
    return execFileSync("git", a, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}

async function main(): Promise<void> {
  const a = args();
  if (a.render) return render(a.render);
  const t0 = Date.now();
  const load0 = loadavg();
  // The code measured is what the site is built from, now.
  const commit = git("rev-parse", "--short", "HEAD");
  const device = deviceCommit();
  const statePath = join(ROOT, "public/guest/disk.img.state.zst");
  const imagePath = join(ROOT, "public/guest/disk.img");
  for (const p of [imagePath, statePath]) if (!existsSync(p)) fail(`${p} is missing (scripts/setup.sh; npm run make:state -- --image public/guest/disk.img)`);
  const memory = decodeStateFile(new Uint8Array(readFileSync(statePath))).info.identity.memory;
  const kitState = join(ROOT, "guest-kit/files/disk.img.state.zst");
  const v86Version = (JSON.parse(readFileSync(join(ROOT, "node_modules/v86/package.json"), "utf8")) as { version: string }).version;

  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch((e) => say(`cleanup: ${e}`));
  };
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    const site: Site = await buildSite(say);
    const nginx: Nginx = await startNginx(site.dir, { say, web: true });
    cleanups.push(() => nginx.stop());
    const bases = new Map<string, string>();
    for (const name of a.links) {
      const l = LINKS.find((x) => x.name === name)!;
      if (l.local) bases.set(name, nginx.url);
      else {
        const t: Throttle = await startThrottle(nginx.port, l);
        cleanups.push(() => t.stop());
        bases.set(name, t.url);
      }
    }
    const launch = playwrightConfig.use?.launchOptions ?? {};
    const browser: Browser = await chromium.launch({ ...launch, executablePath: "/usr/bin/chromium", headless: true });
    cleanups.push(() => browser.close());
    say(`nginx at ${nginx.url} serving ${site.dir}; Chromium ${browser.version()}; guest RAM ${memory / 2 ** 20} MiB; load ${load0.map((x) => x.toFixed(1)).join(" ")}`);

    const ideSize = statSync(join(site.dir, site.ideImage)).size;
    const v86 = !a.variants.includes("ide-v86-state") ? undefined : await v86State(browser, { imageUrl: `/${site.ideImage}`, size: ideSize, source: imagePath, memory, v86Version, pageUrl: nginx.url + site.v86Page }, say);
    const v86StateUrl = "guest/disk-ide.v86.state.zst";
    if (v86) symlinkSync(v86.path, join(site.dir, v86StateUrl));

    const runs: PageRun[] = [];
    for (let round = 1; round <= a.rounds; round++) {
      for (const link of a.links) {
        const base = bases.get(link)!;
        // Alternating: each round starts with another variant.
        const order = a.variants.map((_, i) => a.variants[(i + round - 1) % a.variants.length]);
        for (const variant of order) {
          const load1 = loadavg()[0];
          const before = nginx.requests().length;
          const started = Date.now();
          const context = await browser.newContext();
          const run: PageRun = { link, round, variant, load1, wallMs: 0 };
          try {
            const page = await context.newPage();
            page.on("pageerror", (e) => say(`page error: ${e.message}`));
            if (variant === "resume") Object.assign(run, await loadDemo(page, base));
            else {
              const q = `?image=/${site.ideImage}&size=${ideSize}&memory=${memory}${variant === "ide-v86-state" ? `&state=/${v86StateUrl}` : ""}`;
              run.promptMs = (await loadV86(page, base + site.v86Page + q, TIMEOUT[variant])).promptMs;
            }
            await new Promise((r) => setTimeout(r, 300)); // the access log's last lines
            run.bytes = bytesOf(nginx.requests().slice(before).filter((x) => x.method === "GET"));
          } catch (e) {
            run.error = e instanceof Error ? e.message : String(e);
          } finally {
            await context.close();
          }
          run.wallMs = Date.now() - started;
          runs.push(run);
          say(
            run.error
              ? `${link} round ${round} ${variant}: FAILED: ${run.error.split("\n").slice(0, 8).join("\n")}`
              : `${link} round ${round} ${variant}: prompt ${(run.promptMs! / 1000).toFixed(2)} s after page open, ${(run.bytes!.total / 1e6).toFixed(1)} MB in ${run.bytes!.requests} requests (state ${(run.bytes!.state / 1e6).toFixed(1)}, disk ${(run.bytes!.disk / 1e6).toFixed(1)}, page ${(run.bytes!.page / 1e6).toFixed(1)}), load ${load1.toFixed(1)}`,
          );
        }
      }
    }
    await browser.close();
    const node: NodeRun[] = a.node ? await nodeRuns(a.node, say) : [];

    const report: ResumeReport = {
      date: new Date().toISOString(),
      machine: `${cpus().length} cores (${cpus()[0]?.model.trim()})`,
      load: { start: load0, end: loadavg() },
      browser: `Chromium ${browser.version()} (headless, /usr/bin/chromium)`,
      commit,
      deviceCommit: device,
      minutes: (Date.now() - t0) / 60000,
      rounds: a.rounds,
      quick: a.quick,
      links: a.links,
      files: { state: statSync(statePath).size, kitState: existsSync(kitState) ? statSync(kitState).size : undefined, v86State: v86?.bytes, image: statSync(imagePath).size, memory },
      runs,
      node,
      summary: { cells: [], targets: [] },
    };
    report.summary = summarize(report);
    mkdirSync(a.out, { recursive: true });
    writeFileSync(join(a.out, "resume.json"), JSON.stringify(report, null, 2) + "\n");
    const md = renderMarkdown(report);
    writeFileSync(join(a.out, "resume.md"), md);
    process.stdout.write(md);
  } finally {
    await cleanup();
  }
}

await main();
