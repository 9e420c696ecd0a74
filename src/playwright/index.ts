// v86-nvme/playwright: Playwright's `test` with a `guest` fixture. Each worker resumes the guest
// from a saved state (or boots it) once in a page of the browser under test; every test starts
// from a restore of that state, so no test sees another one's writes.
//
//   // playwright.config.ts: Playwright's own defineConfig takes the options once this module is
//   // imported anywhere in the program (a test file does); or use this module's defineConfig.
//   import { defineConfig } from "@playwright/test";
//   export default defineConfig({ use: { image: "disk.img", bios: "bios-256k.bin", vgaBios: "vgabios-stdvga.bin" } });
//
//   import { test, expect } from "v86-nvme/playwright";
//   test("nvme list", async ({ guest }) => {
//     expect((await guest.exec("nvme list")).stdout).toContain("/dev/nvme0n1");
//   });
//
// States: with no `image` option the guest kit (package v86-nvme-guest) is used and its saved
// state resumed. For another image, the first worker that needs one boots it once under Node and
// saves its state into `stateCacheDir` (default: $V86NVME_STATE_CACHE, else
// node_modules/.cache/v86-nvme/states in the project's root), keyed by the image, BIOS, memory, controller options, prompt and
// v86 version; workers and runs that start meanwhile wait for it, later ones reuse it. A state
// that does not match, or is damaged, is refused naming why, and the worker boots cold instead
// (a warning and an annotation say so). The first test of each worker carries the resume or boot
// time as its "v86-nvme boot" annotation and step.

import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test as base, defineConfig as playwrightDefineConfig, type Page, type PlaywrightTestConfig, type TestInfo } from "@playwright/test";
import type { ExecResult, GuestCounters } from "../guest/index.ts";
import { formatTrace, normalizeOptionNames, type CommandTraceEntry, type FaultSpec, type InjectedFault } from "../index.ts";
import { readHostPath, writeHostDir, type HostTarget } from "../node/files.ts";
import { BootError, GuestPage, namedPageOptions, type GuestPageOptions, type TimeoutOptions } from "./guest-page.ts";
import { formatMs, planState, type StateOptions, type StatePlan } from "./states.ts";
import { withJsFlag } from "./launch.ts";

export { expect } from "@playwright/test";
export { BootError, type FileInput, type FileOption, type TimeoutOptions } from "./guest-page.ts";
export type { ExecResult, GuestCounters } from "../guest/index.ts";
export type { CommandTraceEntry, FaultSpec, InjectedFault } from "../index.ts";
export type { HostTarget } from "../node/files.ts";

/** How the fixture has Chromium run the guest. */
export interface BrowserOptions {
  /**
   * Whether the fixture's workers launch Chromium with `--js-flags=--liftoff-only` (default true;
   * other browsers are launched as configured). v86 compiles the guest's hot code into new
   * WebAssembly modules as it runs, and Chromium's optimizing compiler recompiles each of them on
   * background threads; on a 2-core machine that took the guest's CPU: a fio job ran in 9-16 s
   * instead of 2-5 s, a shell loop in 5 s instead of 1.5 s. The flag holds for every page of the
   * worker's browser, your own pages in these tests too: `false` launches Chromium as configured.
   */
  liftoffOnly?: boolean;
}

/**
 * The fixture's options: set them in playwright.config's `use` (top level or per project) or with
 * test.use(). They are worker options: each distinct set gets its own guest per worker.
 */
export interface GuestOptions extends GuestPageOptions, StateOptions, BrowserOptions {}

declare module "@playwright/test" {
  /**
   * v86-nvme/playwright's options, so that Playwright's plain defineConfig({ use: { image, ... } })
   * typechecks wherever this module is part of the program.
   */
  interface PlaywrightWorkerOptions extends GuestOptions {}
}

/**
 * Playwright's defineConfig, typed with the fixture's options (the same as Playwright's once this
 * module is imported; this one needs no other import in playwright.config.ts).
 */
export function defineConfig(config: PlaywrightTestConfig<{}, GuestOptions>, ...configs: PlaywrightTestConfig<{}, GuestOptions>[]): PlaywrightTestConfig<{}, GuestOptions> {
  return playwrightDefineConfig<{}, GuestOptions>(config, ...configs);
}

/** The guest a test gets: resumed or booted, and rewound to that state. */
export interface TestGuest {
  /** The guest's ttyS0, as of the start of this test. */
  readonly serial: {
    /** The console text since this test started (no escape sequences, no CRs). */
    text(): Promise<string>;
    /** Resolves with the first match in the output since this test started (default timeoutMs 30 s). */
    waitFor(pattern: RegExp | string, options?: TimeoutOptions): Promise<string[]>;
    /** Types raw text (no newline added). */
    send(text: string): Promise<void>;
  };
  /** Runs `cmd` in the guest's shell (default timeoutMs 60 s; on a timeout the error carries the serial tail). */
  exec(cmd: string, options?: TimeoutOptions): Promise<ExecResult>;
  /** The NVMe adapter's and controller's counters (they are rewound with the guest). */
  counters(): Promise<GuestCounters>;
  /** A PNG of the VGA screen. */
  screenshot(): Promise<Buffer>;
  /** The VGA text screen. */
  readonly screen: {
    /** Its lines, trailing spaces and empty last lines removed ([] in a graphics mode). */
    text(): Promise<string[]>;
    /** Resolves with the first match on the screen (lines joined by "\n"); rejects after timeoutMs (default 30 s) quoting the screen. */
    waitFor(pattern: RegExp | string, options?: TimeoutOptions): Promise<string[]>;
  };
  /** The guest's PS/2 keyboard (US layout). */
  readonly keyboard: {
    /** Types text: letters, digits, punctuation, space; "\n" is Enter, "\t" Tab. */
    type(text: string): Promise<void>;
    /** Presses and releases a key or chord: "Enter", "Escape", "F1", "ArrowUp", "Ctrl+C", "Ctrl+Alt+Delete". */
    press(key: string): Promise<void>;
  };
  /**
   * Writes bytes, or a host file, into the guest file `path` (its directory must exist); a host
   * directory goes into the guest directory `path`. Carried by a scratch NVMe namespace added for
   * the transfer and removed after it.
   */
  putFile(path: string, data: Uint8Array | string, options?: TimeoutOptions): Promise<void>;
  /** The guest file's bytes; `to`: also written to that host path. */
  getFile(path: string, options?: TimeoutOptions & HostTarget): Promise<Uint8Array>;
  /** Unpacks a tar archive, or a host directory's contents, into the guest directory `dir` (made when missing). */
  putDir(dir: string, tarOrHostDir: Uint8Array | string, options?: TimeoutOptions): Promise<void>;
  /** A tar archive of the guest directory's contents; `to`: also unpacked into that host directory. */
  getDir(dir: string, options?: TimeoutOptions & HostTarget): Promise<Uint8Array>;
  /**
   * The NVMe controller's fault injection and command trace. Faults end with the test; the trace
   * holds the commands since the test started and is attached to a failed test's report.
   */
  readonly nvme: {
    /** Injects a fault into the I/O commands that match it (an Error names a bad field). */
    inject(spec: FaultSpec): Promise<InjectedFault>;
    /** The faults injected, with how often each fired. */
    list(): Promise<InjectedFault[]>;
    /** Clears fault `id`, or every fault. */
    clear(id?: number): Promise<void>;
    /** The commands the controller completed since the test started, oldest first (formatTrace() prints them). */
    trace(): Promise<CommandTraceEntry[]>;
  };
  /** The page the guest runs in (`window.v86nvme.guest()` is the guest there). */
  readonly page: Page;
  /** Milliseconds this test's restore took. */
  readonly restoreMs: number;
}

type Options = { [K in keyof Required<GuestOptions>]: GuestOptions[K] };

/** A worker's guest page and how it came to be, for the first test's report. */
interface Opened {
  page: GuestPage;
  /** "resumed from … in 850 ms" / "booted in 27.1 s (no state: …)". */
  summary: string;
  warning?: string;
}

interface WorkerFixtures extends Options {
  /** The worker's guest page, or why it did not boot. */
  guestPage: Opened | BootError;
}

const SERIAL_ATTACHMENT = "serial console";
const SCREEN_ATTACHMENT = "VGA screen";
const TRACE_ATTACHMENT = "NVMe command trace";

/** timeoutMs under its current name (the old one warned about once). */
const namedTimeout = (o: TimeoutOptions): number | undefined => normalizeOptionNames("wait", o, "screen.waitFor").timeoutMs;

/** putFile, getFile, putDir and getDir: host paths read and written here, the bytes carried to the page by its server. */
function fileCalls(g: GuestPage): Pick<TestGuest, "putFile" | "getFile" | "putDir" | "getDir"> {
  const timeout = (o: TimeoutOptions): number | undefined => normalizeOptionNames("exec", o, "putFile").timeoutMs;
  return {
    async putFile(path, data, o = {}) {
      if (typeof data !== "string") return g.put(path, data, false, timeout(o));
      const host = await readHostPath(data, `putFile ${path}`);
      return g.put(path, host.bytes, host.kind === "directory", timeout(o));
    },
    async getFile(path, o = {}) {
      const bytes = await g.get(path, false, timeout(o));
      if (o.to !== undefined) writeFileSync(o.to, bytes);
      return bytes;
    },
    async putDir(dir, tar, o = {}) {
      if (typeof tar !== "string") return g.put(dir, tar, true, timeout(o));
      const host = await readHostPath(tar, `putDir ${dir}`);
      if (host.kind !== "directory") throw new Error(`putDir ${dir}: the host path ${tar} is not a directory`);
      return g.put(dir, host.bytes, true, timeout(o));
    },
    async getDir(dir, o = {}) {
      const tar = await g.get(dir, true, timeout(o));
      if (o.to !== undefined) await writeHostDir(o.to, tar);
      return tar;
    },
  };
}

/** Guest pages whose boot timings a test's annotations already show (the first test of the worker). */
const reported = new WeakSet<GuestPage>();

/**
 * Where a boot failure is kept for the rest of the run (the project's output directory, emptied
 * when a run starts): Playwright replaces a worker after a failed test, and the next worker would
 * otherwise boot the same guest again and wait out bootTimeoutMs once per test.
 */
function failureRecord(outputDir: string, options: GuestPageOptions): string {
  const h = createHash("sha256");
  for (const [k, v] of Object.entries(options)) {
    h.update(`${k}=`);
    if (v instanceof Uint8Array) h.update(v);
    else if (typeof v === "string" && existsSync(v)) h.update(`${v}:${statSync(v).size}:${statSync(v).mtimeMs}`);
    else h.update(JSON.stringify(v) ?? "");
  }
  return join(outputDir, `v86-nvme-boot-failure-${h.digest("hex").slice(0, 16)}.json`);
}

function keepFailure(file: string, e: BootError): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ message: e.message, serial: e.serial, screen: e.screen?.toString("base64") }));
}

function keptFailure(file: string): BootError | undefined {
  if (!existsSync(file)) return undefined;
  const { message, serial, screen } = JSON.parse(readFileSync(file, "utf8")) as { message: string; serial: string; screen?: string };
  const kept = message.replace("the guest did not boot:", "the guest did not boot (in an earlier worker of this run; not tried again):");
  return new BootError(kept, serial, screen === undefined ? undefined : Buffer.from(screen, "base64"));
}

async function attachBootFailure(info: TestInfo, e: BootError): Promise<void> {
  await info.attach(SERIAL_ATTACHMENT, { body: e.serial, contentType: "text/plain" });
  if (e.screen) await info.attach(SCREEN_ATTACHMENT, { body: e.screen, contentType: "image/png" });
}

/** Says `line` on the worker's stderr once per run (the output directory is emptied when a run starts). */
function warnOnce(outputDir: string, line: string): void {
  const marker = join(outputDir, `v86-nvme-warned-${createHash("sha256").update(line).digest("hex").slice(0, 16)}`);
  try {
    mkdirSync(outputDir, { recursive: true });
    closeSync(openSync(marker, "wx"));
  } catch {
    return; // said already, by this worker or another
  }
  console.warn(line);
}

/** What the first test of a worker reports about its guest. */
function summarize(plan: StatePlan, page: GuestPage): { summary: string; warning?: string } {
  const t = page.timings;
  if (t.resumed && plan.state) {
    const entry = plan.state.entry;
    const made =
      entry?.how === "built" ? ` (state made under Node by this worker in ${formatMs(entry.ms)})` : entry?.how === "waited" ? ` (after ${formatMs(entry.ms)} waiting for another worker to make it)` : "";
    return { summary: `resumed from ${plan.state.label} in ${formatMs(t.fetchMs + t.decodeMs + t.bootMs)}${made}` };
  }
  if (t.refused && plan.state) {
    const warning = `v86-nvme: the state ${plan.state.label} was refused (${t.refused}); the guest was booted cold instead`;
    return { summary: `booted in ${formatMs(t.bootMs)} (state refused: ${t.refused})`, warning };
  }
  return { summary: `booted in ${formatMs(t.bootMs)} (no state: ${plan.noState ?? "none given"})`, warning: plan.warning };
}

/**
 * A worker option's registration. Its type leaves out `option: true`: the option names are also
 * PlaywrightWorkerOptions (declared above, for the config's types), and Playwright types fixtures
 * of those names as overrides, which take no `option` flag.
 */
const option = <T>(value: T) => [value, { scope: "worker", option: true }] as unknown as [T, { scope: "worker" }];

export const test = base.extend<{ guest: TestGuest }, WorkerFixtures>({
  image: option(undefined),
  bios: option(undefined),
  vgaBios: option(undefined),
  memory: option(undefined),
  nvme: option(undefined),
  bootTimeoutMs: option(undefined),
  bootTimeout: option(undefined),
  prompt: option(undefined),
  state: option(undefined),
  stateCacheDir: option(undefined),
  liftoffOnly: option(true),
  launchOptions: [
    async ({ launchOptions, browserName, liftoffOnly }, use) => {
      await use(liftoffOnly !== false && browserName === "chromium" ? withJsFlag(launchOptions, "--liftoff-only") : launchOptions);
    },
    { scope: "worker" },
  ],

  guestPage: [
    async ({ browser, image, bios, vgaBios, memory, nvme, bootTimeoutMs, bootTimeout, prompt, state, stateCacheDir }, use, workerInfo) => {
      // Old names are renamed here (a warning each), so the failure record and the state cache key see one spelling.
      const options = namedPageOptions({ image, bios, vgaBios, memory, nvme, bootTimeoutMs, bootTimeout, prompt, state, stateCacheDir });
      const outputDir = workerInfo.project.outputDir;
      const record = failureRecord(outputDir, options);
      let opened: Opened | BootError | undefined = keptFailure(record);
      try {
        if (!opened) {
          const configFile = workerInfo.config.configFile;
          const plan = await planState(options, {
            configDir: configFile ? dirname(configFile) : workerInfo.config.rootDir,
            runDir: outputDir,
            bootTimeoutMs: options.bootTimeoutMs ?? 180_000,
            say: (line) => console.log(line),
          });
          const page = await GuestPage.open(browser, plan.options, { state: plan.state?.file, imageId: plan.imageId, stateClockMs: plan.state?.clockMs });
          // A cached state this page refused is made again by the next run.
          if (page.timings.refused && plan.state?.cached) for (const f of [plan.state.cached, `${plan.state.cached}.json`]) rmSync(f, { force: true });
          opened = { page, ...summarize(plan, page) };
          if (opened.warning) warnOnce(outputDir, opened.warning);
        }
      } catch (e) {
        // A boot failure goes to the tests (they attach its serial tail and screen); bad options throw here.
        if (!(e instanceof BootError)) throw e;
        opened = e;
        keepFailure(record, e);
      }
      await use(opened);
      if (!(opened instanceof BootError)) await opened.page.close();
    },
    // The boot has its own timeout (bootTimeoutMs), checked in the page; making a state, in Node.
    { scope: "worker", timeout: 0 },
  ],

  guest: async ({ guestPage: opened }, use, info) => {
    if (opened instanceof BootError) {
      await attachBootFailure(info, opened);
      throw opened;
    }
    const g = opened.page;
    if (!reported.has(g)) {
      reported.add(g);
      info.annotations.push({ type: "v86-nvme boot", description: opened.summary });
      if (opened.warning) info.annotations.push({ type: "warning", description: opened.warning });
      info.annotations.push({ type: "v86-nvme boot timings", description: JSON.stringify(g.timings, (_, v: unknown) => (typeof v === "number" ? Math.round(v) : v)) });
      await base.step(`v86-nvme: ${opened.summary}`, async () => {}, { box: true });
    }
    const restoreMs = await g.reset();
    info.annotations.push({ type: "v86-nvme restore", description: `${Math.round(restoreMs)} ms` });
    await use({
      serial: { text: () => g.text(), waitFor: (p, o) => g.waitFor(p, o), send: (t) => g.send(t) },
      exec: (cmd, o) => g.exec(cmd, o),
      counters: () => g.counters(),
      screenshot: () => g.screenshot(),
      screen: {
        text: () => g.call("screenText"),
        waitFor: (p, o = {}) => g.call("screenWaitFor", typeof p === "string" ? p : p.source, typeof p === "string" ? null : p.flags, namedTimeout(o)),
      },
      keyboard: { type: (t) => g.call("keyboardType", t), press: (k) => g.call("keyboardPress", k) },
      ...fileCalls(g),
      nvme: {
        inject: (spec) => g.call("nvmeInject", spec),
        list: () => g.call("nvmeList"),
        clear: (id) => g.call("nvmeClear", id),
        trace: () => g.call("nvmeTrace"),
      },
      page: g.page,
      restoreMs,
    });
    // A failure, expected (test.fail()) or not, and an unexpected pass get the guest's side of it.
    if (info.status !== info.expectedStatus || info.status === "failed" || info.status === "timedOut") {
      await info.attach(SERIAL_ATTACHMENT, { body: await g.readableText().catch((e) => String(e)), contentType: "text/plain" });
      const screen = await g.screenshot().catch(() => undefined);
      if (screen) await info.attach(SCREEN_ATTACHMENT, { body: screen, contentType: "image/png" });
      const trace = await g.call("nvmeTrace").then(formatTrace, (e: unknown) => String(e));
      await info.attach(TRACE_ATTACHMENT, { body: trace, contentType: "text/plain" });
    }
  },
});
