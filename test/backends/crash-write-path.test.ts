// The persistent disk crashed after every single file operation of a workload (every prefix of
// its data writes, data flushes, map writes and map flushes, the way SQLite's crash tests and
// dm-log-writes replays work), with the unflushed writes kept (tab or browser crash), lost, or
// torn (power cut), then reopened: what a completed flush or FUA write covered is there, each
// block reads as one whole version it was given, and the map never names data that is not there.
import { describe, it, expect } from "vitest";
import { OpfsBackend, type OpfsDiskOptions } from "../../src/backends/opfs.ts";
import {
  BASE, ZERO, DiskModel, RecordingFiles, baseImage, brokenPromises, crashImages, modeName, recordingWorker, workload,
  type CrashMode, type FileOp, type Images,
} from "./crash-harness.ts";

interface Scenario {
  blockSize: number;
  blocks: number;
  /** Over a base image, as an overlay or copying it in. */
  base?: "overlay" | "copy";
  /** Start from a disk an earlier workload left (flushed and closed). */
  existing?: boolean;
  /** Close the disk at the end of the workload. */
  close?: boolean;
  steps: number;
  seed: number;
}

const options = (s: Scenario): Omit<OpfsDiskOptions, "worker"> => ({
  name: "disk",
  blockSize: s.blockSize,
  chunkSize: 16 * 1024,
  cacheBytes: 64 * 1024,
  ...(s.base ? { base: baseImage(s.blocks, s.blockSize), baseId: "base", seed: s.base } : { size: s.blocks * s.blockSize }),
});

/** Runs the workload over recording files: the log, the answers, the model, the files it started from. */
async function record(s: Scenario) {
  let initial: Images = new Map();
  let state = new Array<number>(s.blocks).fill(s.base ? BASE : ZERO);
  if (s.existing) {
    const files = new RecordingFiles();
    const model = new DiskModel(state);
    const w = recordingWorker(files);
    const disk = await OpfsBackend.open({ ...options(s), worker: w.endpoint });
    await workload(disk, model, { ...s, seed: s.seed + 1000 });
    await disk.copied;
    await disk.close();
    [initial, state] = [files.images(), model.state()];
  }
  const files = new RecordingFiles(initial);
  const model = new DiskModel(state);
  const w = recordingWorker(files, (req) => model.posted(req));
  const disk = await OpfsBackend.open({ ...options(s), worker: w.endpoint });
  await workload(disk, model, s);
  await disk.copied.catch(() => {});
  if (s.close) await disk.close();
  w.kill();
  return { initial, log: files.log as readonly FileOp[], answered: w.answered, model };
}

// A power cut is modelled tearing writes at the disk's block size (512-byte sectors, 4 KiB pages):
// blocks are overwritten in place, so storage that tears a 4 KiB block's 512-byte sectors apart
// can mix an unflushed overwrite with the block's old bytes (the last test shows that is all).
const modes = (s: Scenario, sector = s.blockSize): CrashMode[] => [
  { kind: "kept" },
  { kind: "lost" },
  { kind: "torn", sector, seed: 1 },
  { kind: "torn", sector, seed: 2 },
];

/** Crashes after each prefix of the recorded operations; the promises each crash broke. */
async function crashEverywhere(s: Scenario, sector?: number): Promise<{ crashes: number; ops: number; broken: string[] }> {
  const rec = await record(s);
  const broken: string[] = [];
  let crashes = 0;
  for (let n = 0; n <= rec.log.length; n++) {
    for (const mode of modes(s, sector)) {
      crashes++;
      const where = `crash after op ${n}/${rec.log.length} (${modeName(mode)})`;
      const w = recordingWorker(new RecordingFiles(crashImages(rec.initial, rec.log, n, mode)));
      try {
        const disk = await OpfsBackend.open({ ...options(s), worker: w.endpoint });
        await disk.copied.catch(() => {});
        for (const p of await brokenPromises(disk, rec.model.allowed(rec.answered, n))) broken.push(`${where}: ${p}`);
      } catch (e) {
        broken.push(`${where}: cannot reopen: ${e instanceof Error ? e.message : String(e)}`);
      } finally {
        w.kill();
      }
    }
  }
  return { crashes, ops: rec.log.length, broken };
}

const scenarios: [string, Scenario][] = [
  ["a new empty disk (512-byte blocks)", { blockSize: 512, blocks: 64, steps: 60, seed: 1 }],
  ["a new empty disk, closed at the end", { blockSize: 512, blocks: 64, steps: 60, seed: 2, close: true }],
  ["an overlay over a base", { blockSize: 512, blocks: 64, steps: 60, seed: 3, base: "overlay" }],
  ["an overlay over a base, another mix", { blockSize: 512, blocks: 64, steps: 60, seed: 4, base: "overlay" }],
  ["a disk copying its base in", { blockSize: 512, blocks: 64, steps: 40, seed: 5, base: "copy" }],
  ["a disk copying its base in, no flush meanwhile", { blockSize: 512, blocks: 64, steps: 3, seed: 9, base: "copy" }],
  ["a disk with 4 KiB blocks", { blockSize: 4096, blocks: 32, steps: 50, seed: 6 }],
  ["an existing disk reopened", { blockSize: 512, blocks: 64, steps: 50, seed: 7, existing: true }],
  ["an existing overlay reopened", { blockSize: 512, blocks: 64, steps: 50, seed: 8, existing: true, base: "overlay" }],
];

describe("persistent disk: a crash after every file operation", () => {
  for (const [name, s] of scenarios) {
    it(name, async () => {
      const r = await crashEverywhere(s);
      expect(r.ops).toBeGreaterThan(5);
      expect(r.broken.slice(0, 8), `${r.broken.length} broken promises in ${r.crashes} crashes`).toEqual([]);
    }, 120_000);
  }

  it("4 KiB blocks torn at 512-byte sectors: only unflushed overwrites mix old and new bytes", async () => {
    const r = await crashEverywhere({ blockSize: 4096, blocks: 32, steps: 50, seed: 6 }, 512);
    expect(r.broken.length).toBeGreaterThan(0);
    expect(r.broken.filter((p) => !/reads a torn mix/.test(p)).slice(0, 8)).toEqual([]);
  }, 120_000);
});

describe("persistent disk names and the overlay's scratch files", () => {
  it("refuses a name the spill sweep would take for a scratch file left by a crashed page", async () => {
    const w = recordingWorker(new RecordingFiles());
    await expect(OpfsBackend.open({ name: "spill-data", size: 1 << 20, worker: w.endpoint })).rejects.toThrow(/spill-.*scratch files/);
    w.kill();
  });
});
