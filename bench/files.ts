// Files into and out of the guest under Node (npm run bench:files): guest.putFile and
// guest.getFile of --mib MiB (default 100) of random bytes, timed from the call to its result,
// with the md5 of what arrived checked against what was sent (in the guest after a put, on the
// host after a get). The guest is the guest kit's, resumed; the file lives on an ext2 file system
// on a second in-memory namespace (the kit's root file system has less room than 100 MiB, its
// RAM 128 MiB). The floor beside it: the guest's own dd of the same bytes from an attached
// namespace into the file system, what a transfer costs the guest without the namespace's addition
// and removal. The guest's caches are dropped before each transfer.
//
//   npm run bench:files [-- --mib N --reps N --out DIR]   (--help: the flags)
//
// Output: a Markdown table on stdout and in bench/results/files.md, JSON in files.json.

import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fail, parseFlags } from "../scripts/cli-args.ts";
import { MemoryBackend } from "../src/index.ts";
import { bootGuest, type NodeGuest } from "../src/node/index.ts";
import { ROOT } from "../test/project-guest/image.ts";
import { deviceCommit } from "./device-commit.ts";

const COMMAND = {
  name: "bench:files",
  run: "npm run bench:files --",
  flags: {
    mib: { type: "string", arg: "N", help: "MiB per transfer, 1-160 (default 100)" },
    reps: { type: "string", arg: "N", help: "puts and gets of each kind, >= 1 (default 2)" },
    out: { type: "string", arg: "DIR", help: "where files.md and files.json go (default bench/results)" },
  },
} as const;

const MIB = 1 << 20;
const TARGET_S = 10;
/** A loaded machine (other guests on the same cores) copies at a few MB/s: room for that. */
const TRANSFER_TIMEOUT_MS = 3_600_000;

const flags = parseFlags(COMMAND);
const mib = Number(flags.mib ?? 100);
const reps = Number(flags.reps ?? 2);
if (!Number.isInteger(mib) || mib < 1 || mib > 160) fail(COMMAND, `--mib must be 1-160 (got ${flags.mib})`);
if (!Number.isInteger(reps) || reps < 1) fail(COMMAND, `--reps must be >= 1 (got ${flags.reps})`);
const outDir = flags.out ?? join(ROOT, "bench/results");

const md5 = (b: Uint8Array): string => createHash("md5").update(b).digest("hex");
const say = (line: string): void => void process.stderr.write(`bench:files: ${line}\n`);

/** `bytes` of xorshift noise (incompressible, no two blocks alike). */
function noise(bytes: number, seed: number): Uint8Array {
  const w = new Uint32Array(bytes / 4);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = x >>> 0;
  }
  return new Uint8Array(w.buffer);
}

async function ok(g: NodeGuest, cmd: string, timeoutMs = TRANSFER_TIMEOUT_MS): Promise<string> {
  const r = await g.exec(cmd, { timeoutMs });
  if (r.exitCode !== 0) throw new Error(`\`${cmd}\` failed (${r.exitCode}): ${r.stdout}`);
  return r.stdout;
}

interface Row {
  kind: "putFile" | "getFile" | "guest dd (floor)";
  rep: number;
  seconds: number;
  md5Equal: boolean;
  load: number;
}

const started = new Date();
const loadStart = loadavg();
const t0 = performance.now();
const g = await bootGuest();
say(`guest kit resumed in ${(g.bootMs / 1000).toFixed(1)} s`);
const rows: Row[] = [];
try {
  // The file system the files live on: ext2 on an in-memory namespace (not timed).
  g.nvme.addNamespace({ backend: new MemoryBackend((mib + 64) * MIB) });
  await ok(g, "i=0; while [ ! -b /dev/nvme0n2 ] && [ $i -lt 300 ]; do i=$((i+1)); usleep 100000; done; mke2fs -q -b 4096 /dev/nvme0n2 && mount /dev/nvme0n2 /mnt");
  for (let rep = 1; rep <= reps; rep++) {
    const data = noise(mib * MIB, rep);
    const want = md5(data);

    await ok(g, "sync; echo 3 > /proc/sys/vm/drop_caches");
    let t = performance.now();
    await g.putFile("/mnt/in.bin", data, { timeoutMs: TRANSFER_TIMEOUT_MS });
    const putS = (performance.now() - t) / 1000;
    const inGuest = (await ok(g, "md5sum < /mnt/in.bin")).split(/\s+/)[0];
    rows.push({ kind: "putFile", rep, seconds: putS, md5Equal: inGuest === want, load: loadavg()[0] });
    say(`putFile ${mib} MiB: ${putS.toFixed(2)} s, md5 ${inGuest === want ? "equal" : "DIFFERS"}`);

    await ok(g, "sync; echo 3 > /proc/sys/vm/drop_caches");
    t = performance.now();
    const back = await g.getFile("/mnt/in.bin", { timeoutMs: TRANSFER_TIMEOUT_MS });
    const getS = (performance.now() - t) / 1000;
    rows.push({ kind: "getFile", rep, seconds: getS, md5Equal: md5(back) === want, load: loadavg()[0] });
    say(`getFile ${mib} MiB: ${getS.toFixed(2)} s, md5 ${md5(back) === want ? "equal" : "DIFFERS"}`);

    // The floor: the guest's own copy from a namespace that is already there.
    const nsid = g.nvme.addNamespace({ backend: new MemoryBackend(mib * MIB, data) });
    await ok(g, `i=0; while ! grep -qx ${nsid} /sys/block/nvme*/nsid && [ $i -lt 300 ]; do i=$((i+1)); usleep 100000; done; rm /mnt/in.bin; sync; echo 3 > /proc/sys/vm/drop_caches`);
    const dev = (await ok(g, `for d in /sys/block/nvme*; do [ "$(cat $d/nsid)" = ${nsid} ] && echo \${d##*/}; done`)).trim();
    t = performance.now();
    await ok(g, `dd if=/dev/${dev} of=/mnt/in.bin bs=1M iflag=direct oflag=direct 2>/dev/null`);
    const ddS = (performance.now() - t) / 1000;
    const ddMd5 = (await ok(g, "md5sum < /mnt/in.bin")).split(/\s+/)[0];
    rows.push({ kind: "guest dd (floor)", rep, seconds: ddS, md5Equal: ddMd5 === want, load: loadavg()[0] });
    say(`guest dd ${mib} MiB: ${ddS.toFixed(2)} s`);
    await g.nvme.removeNamespace(nsid);
    await ok(g, `while [ -e /sys/block/${dev} ]; do usleep 50000; done; rm /mnt/in.bin`);
  }
} finally {
  await g.stop();
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const kinds = ["putFile", "getFile", "guest dd (floor)"] as const;
const med = Object.fromEntries(kinds.map((k) => [k, median(rows.filter((r) => r.kind === k).map((r) => r.seconds))])) as Record<(typeof kinds)[number], number>;
const report = {
  date: started.toISOString(),
  nproc: cpus().length,
  cpu: cpus()[0]?.model ?? "unknown",
  commit: deviceCommit(),
  loadStart,
  loadEnd: loadavg(),
  mib,
  reps,
  runMinutes: (performance.now() - t0) / 60_000,
  rows,
  medians: med,
};
const mbs = (s: number): string => ((mib * MIB) / s / 1e6).toFixed(1);
const load = (l: number[]): string => l.map((x) => x.toFixed(1)).join(" ");
const allEqual = rows.every((r) => r.md5Equal);
const md = [
  "## Files in and out of the guest (bench:files)",
  "",
  `${report.date.slice(0, 10)} · ${report.nproc} × ${report.cpu} · Node ${process.version} · device code at ${report.commit} · load average ${load(loadStart)} at the start, ${load(report.loadEnd)} at the end · ${reps} reps · run time ${report.runMinutes.toFixed(1)} min`,
  "",
  `${mib} MiB of random bytes per transfer, the guest kit's guest resumed under Node (128 MiB of RAM), the file on ext2 on a second in-memory namespace. Timed from the call to its result; md5 compared after each. Guest dd: the guest's own copy of the same bytes from an attached namespace into the file with direct I/O both ways, as putFile copies (no namespace added or removed, no truncate), the floor of a put.`,
  "",
  "| transfer | median | MB/s | runs (s) | md5 equal | load (1 min) |",
  "| --- | ---: | ---: | --- | --- | ---: |",
  ...kinds.map((k) => {
    const rs = rows.filter((r) => r.kind === k);
    return `| ${k} | ${med[k].toFixed(2)} s | ${mbs(med[k])} | ${rs.map((r) => r.seconds.toFixed(2)).join(", ")} | ${rs.every((r) => r.md5Equal) ? "yes" : "**no**"} | ${median(rs.map((r) => r.load)).toFixed(1)} |`;
  }),
  "",
  "Targets:",
  "",
  "| target | value | goal | |",
  "| --- | ---: | --- | --- |",
  `| putFile ${mib} MiB | ${med.putFile.toFixed(2)} s | ≤ ${TARGET_S} s | ${med.putFile <= TARGET_S ? "met" : "**not met**"} |`,
  `| getFile ${mib} MiB | ${med.getFile.toFixed(2)} s | ≤ ${TARGET_S} s | ${med.getFile <= TARGET_S ? "met" : "**not met**"} |`,
  `| putFile ÷ the guest's own dd | ${(med.putFile / med["guest dd (floor)"]).toFixed(2)}× | (overhead of the scratch namespace) | |`,
  `| checksums | ${allEqual ? "all equal" : "**some differ**"} | equal | ${allEqual ? "met" : "**not met**"} |`,
  "",
].join("\n");
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "files.md"), md);
writeFileSync(join(outDir, "files.json"), `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(md);
if (!allEqual) process.exit(1);
