// Where the host's time goes during one fio job in the guest: V8's CPU profiler (the one behind
// `node --cpu-prof`), started and stopped through node:inspector around the job only, so the
// boot and the warm-up are not in it.
//
//   tsx bench/guest/profile.ts [--job randread-qd32] [--disk nvme|ide] [--shadow on|off]
//                              [--policy awake|eager] [--coalesce V] [--runtime S] [--save FILE]
//                              [--mdts N] [--doorbell-batch N] [--hlt-cap MS]
//
// Prints the self time by category (idle, v86's wasm core, the JIT-compiled guest code, v86's JS,
// our controller's TypeScript and wasm hot path, GC, ...) and the top functions. --save writes the
// .cpuprofile (open it in Chrome DevTools or speedscope).
//
// An experiment that changes the system under test, to check a proposed fix before it is made in
// src/ (never used by run.ts):
//   --hlt-cap MS   caps the sleep v86's timer function returns (what the adapter's timer hook
//                  would return with a pending interrupt-aggregation deadline) at MS milliseconds.

import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { Guest } from "../../test/project-guest/guest.ts";
import { loadDisk } from "../../test/project-guest/image.ts";
import { JOBS, fioLine } from "./jobs.ts";
import { Sampler } from "./sampler.ts";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; scriptId: string };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const argv = process.argv.slice(2);
const opt = (k: string, d: string): string => {
  const i = argv.indexOf(k);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : d;
};
const jobId = opt("--job", "randread-qd32");
const disk = opt("--disk", "nvme");
const shadow = opt("--shadow", "on") === "on";
const policy = opt("--policy", "awake") as "awake" | "eager";
const coalesce = opt("--coalesce", ""); // set-feature 08h value, e.g. 263 = THR 7 | TIME 1 << 8
const runtime = Number(opt("--runtime", "20"));
const save = opt("--save", "");
const hltCap = Number(opt("--hlt-cap", "NaN"));
const batch = opt("--doorbell-batch", "");
const mdts = opt("--mdts", "");
const job = JOBS.find((j) => j.id === jobId);
if (!job) throw new Error(`--job: one of ${JOBS.map((j) => j.id).join(", ")}`);
const APPEND = 256 << 20;
const IMAGE = loadDisk().byteLength;

function category(n: Node, wasmKind: Map<string, string>, ours: Set<number>): string {
  const { functionName: f, url } = n.callFrame;
  if (ours.has(n.id)) return "ours: hot path wasm";
  if (f === "(idle)") return "idle (event loop waiting: v86 sleeping in setTimeout)";
  if (f === "(garbage collector)") return "GC";
  if (f === "(program)") return "(program): V8/native, not attributed";
  if (url.startsWith("wasm://")) return wasmKind.get(url) ?? "wasm (other)";
  if (url.includes("/src/")) return `ours: TypeScript (${url.includes("/src/v86/") ? "src/v86 adapter" : "src controller"})`;
  if (url.includes("libv86")) return "v86: JavaScript (devices, IDE, PIC, bus)";
  if (url.includes("/e2e/") || url.includes("/bench/")) return "benchmark harness";
  if (url.startsWith("node:") || url === "") return "node internals / natives";
  return "other JS";
}

async function main(): Promise<void> {
  let g: Guest | undefined;
  let sampler: Sampler | undefined;
  g = await Guest.boot({
    ide: true,
    appendBytes: APPEND,
    serial: "V86BENCHPROF",
    nvme: { shadowDoorbells: shadow, doorbellPolicy: policy, ...(mdts ? { mdts: Number(mdts) } : {}), ...(batch ? { doorbellBatch: Number(batch) } : {}) },
    bootTimeoutMs: 300_000,
    onEmulator: (em) => {
      sampler = new Sampler(em, () => {
        const c = g?.nvme?.controller.counters;
        return c ? c.readCommands + c.writeCommands : 0;
      }).start();
    },
  });
  const dev = disk === "ide" ? "/dev/sda" : "/dev/nvme0n1";
  process.stderr.write(`booted in ${(g.runToPromptMs / 1000).toFixed(1)} s; warming up\n`);
  await g.ok(fioLine(job!, dev, IMAGE, 256, 6, "warmup"), 300_000);
  if (coalesce) await g.ok(`nvme set-feature /dev/nvme0 -f 8 -v ${Number(coalesce)} >/dev/null`);
  if (Number.isFinite(hltCap)) {
    const cpu = (g.emulator as unknown as { v86: { cpu: { run_hardware_timers: (a: boolean, n: number) => number } } }).v86.cpu;
    const inner = cpu.run_hardware_timers;
    cpu.run_hardware_timers = function (this: unknown, a: boolean, n: number): number {
      return Math.min(inner.call(this, a, n), hltCap);
    };
  }
  const insp = new Session();
  insp.connect();
  await insp.post("Profiler.enable");
  await insp.post("Profiler.setSamplingInterval", { interval: 200 });
  const c0 = g.counters();
  const mark = sampler!.mark();
  sampler!.sample();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await insp.post("Profiler.start");
  const line = fioLine(job!, dev, IMAGE, 256, runtime);
  await g.ok(line, (runtime + 120) * 1000);
  const { profile } = (await insp.post("Profiler.stop")) as unknown as { profile: Profile };
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  sampler!.sample();
  const c1 = g.counters();
  const fio = await g.ok("cat /tmp/fio.json");
  const win = sampler!.busyWindow(mark, disk === "ide" ? "ide" : "nvme");
  sampler!.stop();
  await g.stop();
  if (save) writeFileSync(save, JSON.stringify(profile));

  // Which wasm module is which: v86's core has main_loop; our hot path has sqFetch/cqPost.
  const byUrl = new Map<string, Set<string>>();
  for (const n of profile.nodes) {
    if (!n.callFrame.url.startsWith("wasm://")) continue;
    if (!byUrl.has(n.callFrame.url)) byUrl.set(n.callFrame.url, new Set());
    byUrl.get(n.callFrame.url)!.add(n.callFrame.functionName);
  }
  const wasmKind = new Map<string, string>();
  for (const [url, names] of byUrl) {
    const all = [...names].join(" ");
    if (/main_loop|do_many_cycles|handle_irqs|jit_/.test(all)) wasmKind.set(url, "v86: wasm core (interpreter, JIT runtime, memory, PIC/APIC)");
    else if (/sqFetch|cqPost|fetchNext|dbStore|irqLevel|prp/i.test(all)) wasmKind.set(url, "ours: hot path wasm");
    else wasmKind.set(url, "v86: JIT-compiled guest code");
  }

  // Our hot path's wasm functions are the wasm frames whose nearest JS caller is in src/.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const ch of n.children ?? []) parent.set(ch, n.id);
  const nodeById = new Map(profile.nodes.map((n) => [n.id, n]));
  const ours = new Set<number>();
  for (const n of profile.nodes) {
    if (!n.callFrame.url.startsWith("wasm://") || wasmKind.get(n.callFrame.url)?.startsWith("v86: wasm core")) continue;
    for (let p = parent.get(n.id); p !== undefined; p = parent.get(p)) {
      const u = nodeById.get(p)!.callFrame.url;
      if (u.startsWith("wasm://")) continue;
      if (u.includes("/src/")) ours.add(n.id);
      break;
    }
  }
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const cats = new Map<string, number>();
  const funcs = new Map<string, number>();
  for (const [id, us] of self) {
    const n = nodes.get(id)!;
    const cat = category(n, wasmKind, ours);
    cats.set(cat, (cats.get(cat) ?? 0) + us);
    const url = n.callFrame.url.replace(/^.*\/(src|node_modules|bench|e2e)\//, "$1/");
    const key = `${n.callFrame.functionName || "(anonymous)"}  [${cat.startsWith("v86: JIT") ? "JIT'd guest code" : url || "native"}]`;
    funcs.set(key, (funcs.get(key) ?? 0) + us);
  }
  const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  const d = (k: string): number => (c1.controller[k] ?? 0) - (c0.controller[k] ?? 0);
  const a = (k: string): number => ((c1.adapter as unknown as Record<string, number>)[k] ?? 0) - ((c0.adapter as unknown as Record<string, number>)[k] ?? 0);
  const iops = /"iops"\s*:\s*([\d.]+)/.exec(fio)?.[1];
  const extra = `${mdts ? `, mdts ${mdts}` : ""}${coalesce ? `, coalescing THR ${Number(coalesce) & 0xff} TIME ${Number(coalesce) >> 8}` : ""}${Number.isFinite(hltCap) ? `, HLT sleep capped at ${hltCap} ms` : ""}${batch ? `, doorbellBatch ${batch}` : ""}`;
  console.log(`# ${job!.id} on ${disk}${disk === "nvme" ? ` (shadow ${shadow ? "on" : "off"}, policy ${policy}${extra})` : ""}, ${runtime} s`);
  console.log(`fio: ${iops} IOPS; wall ${wall.toFixed(1)} s; process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s (${((cpu.user + cpu.system) / 1e4 / wall).toFixed(0)} % of one core)`);
  if (win) console.log(`guest: ${(win.instructions / win.seconds / 1e6).toFixed(0)} MIPS while busy, ${(win.instructions / win.commands / 1000).toFixed(1)} k instructions per command`);
  if (disk === "nvme") {
    const io = d("readCommands") + d("writeCommands");
    const per = (n: number): string => (n / io).toFixed(3);
    console.log(`device per command: MMIO doorbell writes ${per(d("mmioDoorbellWrites"))}, interrupts ${per(d("interrupts"))}, polls ${per(d("polls"))} (empty ${per(d("emptyPolls"))}), ` +
      `EventIdx writes ${per(d("eventIdxWrites"))}, shadow reads ${per(d("shadowDoorbellReads"))}, ticks ${per(d("ticks"))}; adapter: MMIO reads ${per(a("mmioReads"))}, MMIO writes ${per(a("mmioWrites"))}, raises ${per(a("raises"))}, deferred ${per(a("deferred"))}, timer hook calls ${per(a("timerHookCalls"))}`);
  }
  console.log("\nself time by category:");
  for (const [c, us] of [...cats].sort((x, y) => y[1] - x[1])) console.log(`${pct(us)}  ${c}`);
  console.log("\ntop functions (self time):");
  for (const [f, us] of [...funcs].sort((x, y) => y[1] - x[1]).slice(0, 30)) console.log(`${pct(us)}  ${f}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
