// Streaming benchmark (issue 15): the guest booted from an image read lazily over HTTP, in headless
// Chromium, through v86's own async IDE disk and through this project's HttpBackend behind the
// NVMe controller (without and with a boot-trace manifest), on the same image and link, alternating.
//
//   npm run bench:stream [-- --quick --rounds N --links a,b --images default,large --variants ide,nvme,nvme-trace --out DIR]
//   npm run bench:stream -- --render bench/results/stream.json   (the Markdown again)
//   npm run bench:stream -- --help                                (the flags)
//
// Debian's nginx serves the images (Range support is nginx's own) from a temporary directory; each
// link but "local" is a throttling proxy in front of it (throttle.ts: a round trip per request,
// the link's bandwidth shared by its connections). Images: the default one (public/guest/disk.img)
// and the large workload (scripts/build-guest-large.sh, built here on demand and cached: its boot
// reads ≥ 150 MiB of Debian's packages before the prompt). v86's disk boots the same bytes with
// syslinux's "ide" label (a copy with the DEFAULT line patched, served beside it).
//
// Per boot: time to the shell prompt, to the end of the last disk read before it, the time the
// guest waited for disk reads, requests and bytes from nginx's access log, and bytes fetched but
// never read (the guest's reads are tracked on the page, see page.ts). Defaults: 3 rounds, the
// default image on every link, the large one on "local" and the target link. --quick: one round
// of the default image on the target link. Output: bench/results/stream.{md,json}.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { chromium, type Browser } from "@playwright/test";
import playwrightConfig from "../../playwright.config.ts";
import { fail, parseFlags, type FlagValues } from "../../scripts/cli-args.ts";
import { ROOT } from "../../test/project-guest/image.ts";
import { startNginx, type Nginx } from "./nginx.ts";
import { startDevServer } from "../dev-server.ts";
import { ideCopy } from "./ide-copy.ts";
import { LINKS, TARGET_LINK, VARIANTS, type BootResult, type StreamBoot, type Variant } from "./plan.ts";
import { renderMarkdown, summarize, type Run, type StreamReport } from "./report.ts";
import { startThrottle, type Throttle } from "./throttle.ts";

const say = (msg: string): void => void process.stderr.write(`bench:stream: ${msg}\n`);

// ---- arguments ----

interface ImageSpec {
  name: "default" | "large";
  path: string;
  /** Serial markers timed on the way to the prompt. */
  markers: string[];
  timeoutMs: number;
  links: string[];
}

const COMMAND = {
  name: "bench:stream",
  run: "npm run bench:stream --",
  flags: {
    quick: { type: "boolean", help: "one round of the default image on the target link" },
    rounds: { type: "string", arg: "N", help: "rounds of every variant (default 3; 1 with --quick)" },
    links: { type: "string", arg: "a,b", help: `links to boot over, of ${LINKS.map((l) => l.name).join(", ")} (default: every link for the default image, "local" and ${TARGET_LINK} for the large one)` },
    images: { type: "string", arg: "a,b", help: "images, of default, large (default both; default with --quick)" },
    variants: { type: "string", arg: "a,b", help: `disks to boot from, of ${VARIANTS.join(", ")} (default all)` },
    out: { type: "string", arg: "DIR", help: "where stream.md and stream.json go (default bench/results)" },
    render: { type: "string", arg: "FILE", help: "only write the Markdown again from a stream.json (beside it), e.g. bench/results/stream.json" },
  },
} as const;

function readArgs(v: FlagValues<typeof COMMAND.flags>) {
  const list = (flag: string, value: string, allowed: readonly string[]): string[] => {
    const xs = value.split(",").filter(Boolean);
    for (const x of xs) if (!allowed.includes(x)) fail(COMMAND, `--${flag}: unknown value "${x}" (one of ${allowed.join(", ")})`);
    return xs;
  };
  const a = {
    quick: v.quick ?? false,
    rounds: Number(v.rounds ?? 3),
    links: v.links === undefined ? undefined : list("links", v.links, LINKS.map((l) => l.name)),
    images: v.images === undefined ? ["default", "large"] : list("images", v.images, ["default", "large"]),
    variants: (v.variants === undefined ? [...VARIANTS] : list("variants", v.variants, VARIANTS)) as Variant[],
    out: v.out ?? join(ROOT, "bench/results"),
  };
  if (!Number.isInteger(a.rounds) || a.rounds < 1) fail(COMMAND, "--rounds takes a positive integer");
  if (a.quick) {
    a.rounds = 1;
    a.links ??= [TARGET_LINK];
    if (v.images === undefined) a.images = ["default"];
  }
  return a;
}

function die(msg: string): never {
  say(`error: ${msg}`);
  process.exit(2);
}

// ---- images ----

function largeImage(): string {
  const path = join(ROOT, ".cache/guest-large/disk.img");
  say("large image: scripts/build-guest-large.sh (cached)");
  execFileSync("bash", [join(ROOT, "scripts/build-guest-large.sh")], { stdio: ["ignore", "inherit", "inherit"] });
  return path;
}

// ---- one boot ----

async function bootOnce(browser: Browser, pageUrl: string, o: StreamBoot): Promise<BootResult> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.on("pageerror", (e) => say(`page error: ${e.message}`));
    await page.goto(pageUrl);
    await page.waitForFunction(() => window.streamPage !== undefined, undefined, { timeout: 120_000 });
    return await page.evaluate((o) => window.streamPage!.boot(o), o);
  } finally {
    await context.close();
  }
}

// ---- main ----

/** `--render FILE`: the Markdown again from a stream.json (say, after the report's code changed). */
function render(file: string): void {
  const report = JSON.parse(readFileSync(file, "utf8")) as StreamReport;
  report.summary = summarize(report.runs);
  const md = renderMarkdown(report);
  writeFileSync(join(dirname(file), "stream.md"), md);
  process.stdout.write(md);
}

async function main(): Promise<void> {
  const flags = parseFlags(COMMAND);
  if (flags.render !== undefined) return render(flags.render);
  const args = readArgs(flags);
  const t0 = Date.now();
  const load0 = loadavg();
  const images: ImageSpec[] = [];
  const allLinks = LINKS.map((l) => l.name);
  for (const name of args.images) {
    if (name === "default") {
      images.push({ name, path: join(ROOT, "public/guest/disk.img"), markers: ["V86NVME-ROOT-READY"], timeoutMs: 600_000, links: args.links ?? allLinks });
    } else {
      images.push({
        name: "large",
        path: largeImage(),
        markers: ["V86NVME-ROOT-READY", "V86NVME-WORKLOAD-START", "V86NVME-WORKLOAD-DONE"],
        timeoutMs: 1_800_000,
        links: args.links ?? ["local", TARGET_LINK],
      });
    }
  }
  for (const im of images) if (!existsSync(im.path)) die(`${im.path} is missing (run scripts/setup.sh)`);

  // What nginx serves: links to the images, the IDE copies, and boot-trace manifests if present.
  const dir = mkdtempSync(join(tmpdir(), "v86nvme-stream-"));
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch((e) => say(`cleanup: ${e}`));
  };
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    for (const im of images) {
      symlinkSync(im.path, join(dir, `${im.name}.img`));
      if (args.variants.includes("ide")) ideCopy(im.path, join(dir, `${im.name}-ide.img`));
      const trace = `${im.path}.boot-trace.json`;
      if (existsSync(trace)) symlinkSync(trace, join(dir, `${im.name}.img.boot-trace.json`));
      else if (args.variants.includes("nvme-trace")) say(`${im.name}: no boot trace beside ${im.path}: "nvme-trace" boots without one`);
    }
    const nginx: Nginx = await startNginx(dir, { say });
    cleanups.push(() => nginx.stop());
    const proxies = new Map<string, Throttle>();
    for (const l of LINKS) {
      if (l.local || !images.some((im) => im.links.includes(l.name))) continue;
      const t = await startThrottle(nginx.port, l);
      cleanups.push(() => t.stop());
      proxies.set(l.name, t);
    }
    const { server, base: viteBase } = await startDevServer();
    cleanups.push(() => server.close());
    const launch = playwrightConfig.use?.launchOptions ?? {};
    const browser = await chromium.launch({ ...launch, executablePath: "/usr/bin/chromium", headless: true });
    cleanups.push(() => browser.close());
    const pageUrl = `${viteBase}/bench/stream/page.html`;
    say(`nginx at ${nginx.url}, page at ${pageUrl}, Chromium ${browser.version()}`);

    const runs: Run[] = [];
    for (const im of images) {
      const size = statSync(im.path).size;
      for (const link of LINKS.filter((l) => im.links.includes(l.name))) {
        const base = link.local ? nginx.url : proxies.get(link.name)!.url;
        for (let round = 1; round <= args.rounds; round++) {
          for (const variant of args.variants) {
            const file = variant === "ide" ? `${im.name}-ide.img` : `${im.name}.img`;
            const before = nginx.requests().length;
            const started = Date.now();
            let r: BootResult;
            try {
              r = await bootOnce(browser, pageUrl, { variant, url: base + file, size, timeoutMs: im.timeoutMs, markers: im.markers });
            } catch (e) {
              say(`${im.name} ${link.name} round ${round} ${variant}: FAILED: ${String(e instanceof Error ? e.message : e).split("\n").slice(0, 12).join("\n")}`);
              runs.push({ image: im.name, link: link.name, round, variant, error: String(e instanceof Error ? e.message : e) });
              continue;
            }
            await new Promise((res) => setTimeout(res, 200)); // the access log's last lines
            // The image's requests and its boot trace's.
            const reqs = nginx.requests().slice(before).filter((q) => q.path.startsWith(`/${file}`) && q.method === "GET");
            const bytes = reqs.reduce((s, q) => s + q.bytes, 0);
            const run: Run = {
              image: im.name,
              link: link.name,
              round,
              variant,
              bootMs: r.bootMs,
              lastReadMs: r.lastReadMs,
              waitMs: r.waitMs,
              requests: reqs.length,
              bytes,
              guestReads: r.reads,
              guestReadBytes: r.distinctReadBytes,
              unreadBytes: Math.max(0, bytes - r.distinctReadBytes),
              marks: r.marks,
              fetchedAt: r.fetchedAt,
              backend: r.backend,
              wallMs: Date.now() - started,
            };
            runs.push(run);
            say(
              `${im.name} ${link.name} round ${round} ${variant}: prompt ${(r.bootMs / 1000).toFixed(1)} s, last read ${(r.lastReadMs / 1000).toFixed(1)} s, ` +
                `read wait ${(r.waitMs / 1000).toFixed(1)} s, ${reqs.length} requests, ${(bytes / 2 ** 20).toFixed(1)} MiB (${(run.unreadBytes! / 2 ** 20).toFixed(1)} MiB never read; guest read ${(r.distinctReadBytes / 2 ** 20).toFixed(1)} MiB)` +
                Object.entries(r.fetchedAt ?? {}).map(([m, b]) => `; ${(b / 2 ** 20).toFixed(1)} MiB fetched at ${m} (${((r.marks[m] ?? 0) / 1000).toFixed(1)} s)`).join(""),
            );
          }
        }
      }
    }
    const report: StreamReport = {
      date: new Date().toISOString(),
      machine: `${cpus().length} cores (${cpus()[0]?.model.trim()}), load average ${load0.map((x) => x.toFixed(2)).join(" ")} at the start, ${loadavg().map((x) => x.toFixed(2)).join(" ")} at the end`,
      browser: `Chromium ${browser.version()} (headless, /usr/bin/chromium)`,
      commit: gitCommit(),
      minutes: (Date.now() - t0) / 60000,
      rounds: args.rounds,
      quick: args.quick,
      images: Object.fromEntries(images.map((im) => [im.name, { bytes: statSync(im.path).size, links: im.links, bootTrace: existsSync(`${im.path}.boot-trace.json`) }])),
      runs,
      summary: summarize(runs),
    };
    mkdirSync(args.out, { recursive: true });
    writeFileSync(join(args.out, "stream.json"), JSON.stringify(report, null, 2) + "\n");
    const md = renderMarkdown(report);
    writeFileSync(join(args.out, "stream.md"), md);
    process.stdout.write(md);
  } finally {
    await cleanup();
  }
}

function gitCommit(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "asm", "bench/stream"], { cwd: ROOT, encoding: "utf8" }).trim();
    return dirty ? `${head}+changes` : head;
  } catch {
    return "unknown";
  }
}

await main();
