// The Playwright fixture's state cache (src/playwright/state-cache.ts): among processes that ask
// for a missing entry at once one builds it and the others wait and reuse it; an entry appears
// whole or not at all; a lock left by a dead or silent builder is broken; a failed build is said
// once to everyone instead of being tried again by each.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CacheBuildError, CacheWaitError, cachedFile } from "../../src/playwright/state-cache.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "v86-nvme-state-cache-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A build that writes `content` in pieces, slowly, and counts itself. */
function slowBuild(counter: { n: number }, content = "x".repeat(1 << 16), pieces = 8) {
  return async (tmp: string): Promise<void> => {
    counter.n++;
    for (let i = 1; i <= pieces; i++) {
      writeFileSync(tmp, content.slice(0, (content.length * i) / pieces));
      await sleep(10);
    }
  };
}

describe("cachedFile", () => {
  it("builds a missing entry once among callers that ask at the same time; later callers find it", async () => {
    const counter = { n: 0 };
    const content = "state ".repeat(10_000);
    const results = await Promise.all(Array.from({ length: 5 }, () => cachedFile({ dir, name: "a.state.zst", pollMs: 5, build: slowBuild(counter, content) })));
    expect(counter.n).toBe(1);
    expect(results.filter((r) => r.how === "built")).toHaveLength(1);
    expect(results.filter((r) => r.how === "waited")).toHaveLength(4);
    for (const r of results) expect(readFileSync(r.path, "utf8")).toBe(content);
    const again = await cachedFile({ dir, name: "a.state.zst", build: slowBuild(counter) });
    expect(again).toEqual({ path: join(dir, "a.state.zst"), how: "found", ms: 0 });
    expect(counter.n).toBe(1);
    // No lock, no temporary file left behind.
    expect(readdirSync(dir)).toEqual(["a.state.zst"]);
  });

  it("never shows a torn entry: while it is built, only its temporary file grows", async () => {
    const seen: string[] = [];
    const content = "y".repeat(1 << 16);
    const build = cachedFile({ dir, name: "b", build: slowBuild({ n: 0 }, content, 16) });
    for (let i = 0; i < 20; i++) {
      if (existsSync(join(dir, "b"))) seen.push(readFileSync(join(dir, "b"), "utf8"));
      await sleep(5);
    }
    await build;
    for (const s of seen) expect(s).toBe(content);
  });

  it("two processes starting at once: one builds, the other waits and reuses its entry", async () => {
    const run = (): Promise<{ how: string; built: boolean; pid: number; path: string }> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", join(HERE, "cache-child.ts"), dir, "c.state.zst", "1500"], { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.on("error", reject);
        child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}`))));
      });
    const [a, b] = await Promise.all([run(), run()]);
    expect([a.built, b.built].filter(Boolean)).toHaveLength(1);
    expect([a.how, b.how].sort()).toEqual(["built", "waited"]);
    const builder = a.built ? a : b;
    expect(readFileSync(join(dir, "c.state.zst"), "utf8")).toBe(`built by ${builder.pid}\n`);
    expect(readdirSync(dir)).toEqual(["c.state.zst"]);
  }, 30_000);

  it("breaks the lock of a builder whose process is gone, and builds", async () => {
    // A pid that no process has: spawn one and let it end.
    const dead = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ["-e", ""]);
      child.on("exit", () => resolve(child.pid!));
    });
    writeFileSync(join(dir, "d.lock"), JSON.stringify({ pid: dead, host: (await import("node:os")).hostname(), since: Date.now(), nonce: "dead" }));
    const counter = { n: 0 };
    const r = await cachedFile({ dir, name: "d", pollMs: 5, build: slowBuild(counter) });
    expect(r.how).toBe("built");
    expect(counter.n).toBe(1);
  });

  it("breaks a lock nobody has touched for staleMs (a builder on another host that died)", async () => {
    const lock = join(dir, "e.lock");
    writeFileSync(lock, JSON.stringify({ pid: 1, host: "another-host", since: 0, nonce: "old" }));
    const old = new Date(Date.now() - 10_000);
    utimesSync(lock, old, old);
    const r = await cachedFile({ dir, name: "e", staleMs: 1000, pollMs: 5, build: slowBuild({ n: 0 }) });
    expect(r.how).toBe("built");
  });

  it("keeps waiting while the builder touches its lock, and gives up after waitMs", async () => {
    const lock = join(dir, "f.lock");
    writeFileSync(lock, JSON.stringify({ pid: 1, host: "another-host", since: Date.now(), nonce: "alive" }));
    const touch = setInterval(() => utimesSync(lock, new Date(), new Date()), 20);
    try {
      await expect(cachedFile({ dir, name: "f", staleMs: 200, waitMs: 600, pollMs: 10, build: slowBuild({ n: 0 }) })).rejects.toBeInstanceOf(CacheWaitError);
    } finally {
      clearInterval(touch);
    }
    expect(existsSync(join(dir, "f"))).toBe(false);
  });

  it("a failed build leaves no entry and no temporary file, and through failureFile the others do not try again", async () => {
    const failureFile = join(dir, "run", "failed.txt");
    let tries = 0;
    const failing = async (tmp: string): Promise<void> => {
      tries++;
      writeFileSync(tmp, "partial");
      await sleep(50);
      throw new Error("the guest did not boot: no bootable device");
    };
    const results = await Promise.allSettled(Array.from({ length: 3 }, () => cachedFile({ dir, name: "g", failureFile, pollMs: 5, build: failing })));
    expect(tries).toBe(1);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    const reasons = results.map((r) => (r as PromiseRejectedResult).reason as Error);
    expect(reasons.filter((e) => e instanceof CacheBuildError)).toHaveLength(2);
    for (const e of reasons) expect(e.message).toBe("the guest did not boot: no bootable device");
    expect(readdirSync(dir)).toEqual(["run"]);
    // A later run (its output directory emptied) tries again.
    rmSync(failureFile);
    const r = await cachedFile({ dir, name: "g", failureFile, build: slowBuild({ n: 0 }) });
    expect(r.how).toBe("built");
  });
});
