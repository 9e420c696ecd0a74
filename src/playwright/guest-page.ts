// A page of the browser under test that runs one guest, resumed from a state file (or booted)
// once and rewound to that state for every test. A small HTTP server on 127.0.0.1 serves the page, its runtime,
// v86 and the guest's files: a 200 MB image reaches the page in about a second that way, where
// context.route() would send it base64-encoded through the browser protocol (5-20 s here) and
// record it in every Playwright trace. The fixture (index.ts) and the benchmark use it.

import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "@playwright/test";
import type { ExecResult, GuestCounters, GuestNvmeOptions } from "../guest/index.ts";
import { normalizeOptionNames } from "../index.ts";
import type { BootTimings, RuntimeConfig } from "./runtime.ts";
import { Transfers } from "./transfers.ts";

declare global {
  interface Window {
    /** The page's runtime module (runtime.ts), set by the page's module script. */
    v86nvme: typeof import("./runtime.ts");
    /** Moves the page's performance.now() (v86's clock) forward to at least `ms` (set by the page's first script). */
    v86nvmeClockAtLeast?: (ms: number) => void;
  }
}

/** The runtime's functions a test reaches through GuestPage.call(). */
type LabCall = "screenText" | "screenWaitFor" | "keyboardType" | "keyboardPress" | "nvmeInject" | "nvmeList" | "nvmeClear" | "nvmeTrace";

/** A file option: a path or the file's bytes. */
export type FileInput = string | Uint8Array;
/** @deprecated Use FileInput (this name goes in the next release). */
export type FileOption = FileInput;

export interface GuestPageOptions {
  /** The raw disk image namespace 1 boots from (never written: the guest writes into an overlay). */
  image?: FileInput;
  /** SeaBIOS, e.g. bios-256k.bin (it has the NVMe boot driver). */
  bios?: FileInput;
  /** The VGA BIOS, e.g. vgabios-stdvga.bin (without it the screen stays blank). */
  vgaBios?: FileInput;
  /** Guest RAM in bytes (default 128 MiB). Smaller RAM restores faster. */
  memory?: number;
  /** Controller options (serial, model, mdts, shadowDoorbells, doorbellPolicy, ...); plain values only. */
  nvme?: Omit<GuestNvmeOptions, "namespaces" | "log">;
  /** Milliseconds from the start to the first shell prompt (default 180 s). */
  bootTimeoutMs?: number;
  /** @deprecated Use bootTimeoutMs (this name goes in the next release). */
  bootTimeout?: number;
  /** The shell prompt exec() waits for (default "guest# "). */
  prompt?: string;
}

/** exec's and waitFor's options. */
export interface TimeoutOptions {
  /** Milliseconds (exec: default 60 s; waitFor: default 30 s). */
  timeoutMs?: number;
  /** @deprecated Use timeoutMs (this name goes in the next release). */
  timeout?: number;
}

/** `o` under the names of option-names.ts (old names warned about once), its `nvme` too. */
export function namedPageOptions<T extends GuestPageOptions>(o: T): T {
  const named = normalizeOptionNames("fixture", o, "v86-nvme/playwright");
  const nvme = named.nvme && normalizeOptionNames("controller", named.nvme, "v86-nvme/playwright: nvme");
  return nvme === named.nvme ? named : { ...named, nvme };
}

/** What the page resumes instead of booting (states.ts finds or makes it). */
export interface ResumeOptions {
  /** The state file: a path or its bytes. */
  state?: FileInput;
  /** The image's identity when not computed from its bytes (the guest kit's manifest id). */
  imageId?: string;
  /** performance.now() of the process that saved the state, when it saved it (default 10 minutes). */
  stateClockMs?: number;
}

const RUNTIME = "playwright-runtime.js";

/**
 * The directory holding playwright-runtime.js and what it loads (chunks, hotpath.wasm): beside
 * this module in the package's dist/, or the package's dist/ when this runs from its sources.
 */
function runtimeDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [here, resolve(here, "../../dist")];
  const dir = candidates.find((d) => existsSync(join(d, RUNTIME)));
  if (!dir) throw new Error(`v86-nvme/playwright: ${RUNTIME} is not in ${candidates.join(" or ")}: build the package first ("npm run build")`);
  return dir;
}

/** v86's ES module and wasm, from the v86 package installed beside this one, and its version. */
function v86Files(): { module: string; wasm: string; version: string } {
  const require = createRequire(import.meta.url);
  const module = require.resolve("v86");
  let version = "";
  try {
    version = (require("v86/package.json") as { version?: string }).version ?? "";
  } catch {
    /* unknown: the page then skips the v86 version check */
  }
  return { module, wasm: join(dirname(module), "v86.wasm"), version };
}

/** A file to serve: a path on disk, or bytes given as an option. */
type Served = { path: string; size: number } | { bytes: Uint8Array; size: number };

function fileOption(name: string, value: FileInput | undefined, required: boolean): Served | undefined {
  if (value === undefined || value === "") {
    if (required) throw new Error(`v86-nvme/playwright: the \`${name}\` option is not set; set it with test.use({ ${name}: "path/to/file" }) or in the \`use\` block of playwright.config`);
    return undefined;
  }
  let served: Served;
  if (typeof value === "string") {
    if (!existsSync(value) || !statSync(value).isFile()) throw new Error(`v86-nvme/playwright: the \`${name}\` option names ${value}, which is not a file`);
    served = { path: value, size: statSync(value).size };
  } else if (value instanceof Uint8Array) {
    served = { bytes: value, size: value.byteLength };
  } else {
    throw new Error(`v86-nvme/playwright: the \`${name}\` option must be a path or a Uint8Array`);
  }
  if (served.size === 0) throw new Error(`v86-nvme/playwright: the \`${name}\` option is an empty file`);
  return served;
}

const TYPES: Record<string, string> = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".map": "application/json" };

const html = (v86: string, runtime: string): string => `<!doctype html>
<meta charset="utf-8">
<title>v86-nvme guest</title>
<script type="importmap">${JSON.stringify({ imports: { v86 } })}</script>
<style>
  body { margin: 0; background: #000; }
  #screen { display: inline-block; }
  #screen > div { white-space: pre; font: 14px/16px monospace; color: #ddd; }
</style>
<div id="screen"><div></div><canvas style="display: none"></canvas></div>
<script>
  // v86 keeps absolute performance.now() times in its state (PIT, RTC, APIC timers): a state saved
  // by a process whose clock was further on would stall the guest's timers until this page's clock
  // caught up. The runtime moves this clock past the saver's before it resumes (never back).
  {
    const now = performance.now.bind(performance);
    let offset = 0;
    performance.now = () => now() + offset;
    window.v86nvmeClockAtLeast = (ms) => { offset = Math.max(offset, ms - now()); };
  }
</script>
<script type="module">
  import * as runtime from "${runtime}";
  window.v86nvme = runtime;
  document.documentElement.dataset.ready = "";
</script>
`;

/** Serves the page, the runtime, v86 and the guest's files on 127.0.0.1; resolves with its origin. */
async function serve(files: Record<string, Served | undefined>, transfers: Transfers): Promise<{ server: Server; origin: string }> {
  const dir = runtimeDir();
  const v86 = v86Files();
  const fromDisk = (path: string): Served | undefined => (existsSync(path) && statSync(path).isFile() ? { path, size: statSync(path).size } : undefined);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://host").pathname);
    let served: Served | undefined;
    if (transfers.handle(req, res, path)) return;
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html", "cache-control": "no-store" });
      res.end(html("/v86/libv86.mjs", `/runtime/${RUNTIME}`));
      return;
    }
    if (path === "/v86/libv86.mjs") served = { path: v86.module, size: 0 };
    else if (path === "/v86/v86.wasm") served = { path: v86.wasm, size: 0 };
    else if (path.startsWith("/files/")) served = files[path.slice("/files/".length)];
    else if (path.startsWith("/runtime/")) {
      const file = resolve(dir, path.slice("/runtime/".length));
      if (file.startsWith(dir + sep)) served = fromDisk(file);
    }
    if (!served) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end(`${path}: not served`);
      return;
    }
    const type = "path" in served ? TYPES[extname(served.path)] : undefined;
    res.writeHead(200, { "content-type": type ?? "application/octet-stream", "cache-control": "no-store" });
    if ("bytes" in served) res.end(served.bytes);
    else createReadStream(served.path).on("error", () => res.destroy()).pipe(res);
  });
  await new Promise<void>((ok, fail) => server.once("error", fail).listen(0, "127.0.0.1", ok));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Why the guest did not boot, with what a report should show. */
export class BootError extends Error {
  constructor(message: string, readonly serial: string, readonly screen: Buffer | undefined) {
    super(message);
    this.name = "BootError";
  }
}

export class GuestPage {
  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
    private readonly server: Server,
    readonly timings: BootTimings,
    private readonly transfers: Transfers,
  ) {}

  /**
   * Opens a page in a context of its own and resumes `resume.state` in it, or boots the guest
   * when there is none or the page refuses it (timings.refused says why), then keeps that state
   * as the snapshot tests start from. A missing or empty file option throws at once, naming the
   * option; a boot that fails or times out throws a BootError carrying the serial console's tail
   * and a screenshot of the VGA screen.
   */
  static async open(browser: Browser, pageOptions: GuestPageOptions, resume: ResumeOptions = {}): Promise<GuestPage> {
    const options = namedPageOptions(pageOptions);
    const files = {
      image: fileOption("image", options.image, true)!,
      bios: fileOption("bios", options.bios, true),
      vgabios: fileOption("vgaBios", options.vgaBios, false),
      state: fileOption("state", resume.state, false),
    };
    const timeout = options.bootTimeoutMs ?? 180_000;
    const config: RuntimeConfig = {
      image: "/files/image",
      bios: "/files/bios",
      vgaBios: files.vgabios ? "/files/vgabios" : undefined,
      v86Wasm: "/v86/v86.wasm",
      memory: options.memory,
      nvme: options.nvme,
      prompt: options.prompt,
      bootTimeoutMs: timeout,
      state: files.state ? "/files/state" : undefined,
      imageId: resume.imageId,
      stateClockMs: resume.stateClockMs,
      v86Version: v86Files().version,
    };
    const transfers = new Transfers();
    const { server, origin } = await serve(files, transfers);
    const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${origin}/`);
      await page.waitForSelector("html[data-ready]", { state: "attached", timeout: 30_000 }).catch(() => {
        throw new Error(`v86-nvme/playwright: the page runtime did not load${errors.length ? `: ${errors.join("; ")}` : ""}`);
      });
      let timings: BootTimings;
      try {
        // The page enforces the timeout; this one only guards against a page that stopped answering.
        timings = await withTimeout(page.evaluate((c) => window.v86nvme.boot(c), config), (files.state ? 2 : 1) * timeout + 60_000, "the page did not answer");
      } catch (e) {
        const serial = await page.evaluate(() => window.v86nvme.tail(8000)).catch(() => "");
        const screen = await page.locator("#screen").screenshot({ timeout: 5000 }).catch(() => undefined);
        // The page's own stack (Playwright appends it to the message) says nothing to the reader.
        const why = (e instanceof Error ? e.message : String(e)).replace(/^page\.evaluate: /, "").replace(/\n\s+at .*/g, "");
        // The page's error may carry the tail already (a timeout's does); an empty one says so.
        const tail = why.includes("--- serial tail ---") ? "" : serial ? `\n--- serial tail ---\n${serial.slice(-2000)}` : "\n(the guest printed nothing on its serial console)";
        throw new BootError(`v86-nvme/playwright: the guest did not boot: ${why}${tail}`, serial, screen);
      }
      return new GuestPage(context, page, server, timings, transfers);
    } catch (e) {
      await context.close().catch(() => undefined);
      server.close();
      throw e;
    }
  }

  /** Rewinds the guest to its state right after boot; returns the milliseconds it took. */
  reset(): Promise<number> {
    return this.page.evaluate(() => window.v86nvme.reset());
  }

  exec(cmd: string, execOptions: TimeoutOptions = {}): Promise<ExecResult> {
    const options = normalizeOptionNames("exec", execOptions, "exec");
    return this.page.evaluate(([c, t]) => window.v86nvme.exec(c, t), [cmd, options.timeoutMs] as const);
  }

  /** Waits for `pattern` in the console output since the test started; resolves with the match. */
  waitFor(pattern: RegExp | string, waitOptions: TimeoutOptions = {}): Promise<string[]> {
    const options = normalizeOptionNames("wait", waitOptions, "serial.waitFor");
    const [source, flags] = typeof pattern === "string" ? [pattern, null] : [pattern.source, pattern.flags];
    return this.page.evaluate(([s, f, t]) => window.v86nvme.waitFor(s, f, t), [source, flags, options.timeoutMs] as const);
  }

  send(text: string): Promise<void> {
    return this.page.evaluate((t) => window.v86nvme.send(t), text);
  }

  /** The console since the test began, as a person reads it (exec()'s plumbing shown as the commands). */
  readableText(): Promise<string> {
    return this.page.evaluate(() => window.v86nvme.readableText());
  }

  /** The console text since the test started (cleaned: no escape sequences, no CRs). */
  text(): Promise<string> {
    return this.page.evaluate(() => window.v86nvme.text());
  }

  /** Writes bytes into a guest file, or unpacks a tar archive into a guest directory (`dir`). */
  async put(path: string, bytes: Uint8Array, dir: boolean, timeoutMs?: number): Promise<void> {
    const offer = this.transfers.offer(bytes);
    try {
      await this.page.evaluate(([p, u, d, t]) => window.v86nvme.putFile(p, u, d, t), [path, offer.path, dir, timeoutMs] as const);
    } finally {
      offer.done();
    }
  }

  /** A guest file's bytes, or a tar archive of a guest directory (`dir`). */
  async get(path: string, dir: boolean, timeoutMs?: number): Promise<Uint8Array> {
    const got = this.transfers.receive();
    try {
      await this.page.evaluate(([p, u, d, t]) => window.v86nvme.getFile(p, u, d, t), [path, got.path, dir, timeoutMs] as const);
      const body = await got.body;
      return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    } finally {
      got.done();
    }
  }

  /** Calls a function of the page's runtime (screen, keyboard, NVMe faults and trace) with JSON arguments. */
  call<K extends LabCall>(name: K, ...args: Parameters<Window["v86nvme"][K]>): Promise<Awaited<ReturnType<Window["v86nvme"][K]>>> {
    return this.page.evaluate(([n, a]) => (window.v86nvme[n] as (...x: unknown[]) => unknown)(...a), [name, args] as const) as Promise<Awaited<ReturnType<Window["v86nvme"][K]>>>;
  }

  counters(): Promise<GuestCounters> {
    return this.page.evaluate(() => window.v86nvme.counters());
  }

  /** A PNG of the VGA screen (text mode or graphics). */
  screenshot(): Promise<Buffer> {
    return this.page.locator("#screen").screenshot();
  }

  async close(): Promise<void> {
    await this.page.evaluate(() => window.v86nvme.guest().stop()).catch(() => undefined);
    await this.context.close();
    this.server.close();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms))),
  ]);
}
