// The resume benchmark's report: per-run records, medians per link × variant, the issue's targets
// (absolute, and as ratios within the run) and the Markdown rendering.

import { LINKS, VARIANT_NAMES, VARIANTS, type Variant } from "./plan.ts";
import type { NodeRun } from "./node.ts";

/** Bytes nginx sent during one page load, by what they were. */
export interface Bytes {
  total: number;
  state: number;
  disk: number;
  /** HTML, scripts, wasm, BIOS, manifests and traces. */
  page: number;
  requests: number;
}

export interface PageRun {
  link: string;
  round: number;
  variant: Variant;
  error?: string;
  /**
   * Page open (navigation start) → the shell prompt on the serial console: when its last byte came
   * out, as each page takes it (performance.now() in the serial listener).
   */
  promptMs?: number;
  /** The same seen from outside: Date.now() against the page's time origin, polled every 10 ms (later by the poll and the page's busy thread). */
  polledMs?: number;
  /** The demo page's own steps (ms since page open on its clock), for "resume". */
  timings?: Record<string, number>;
  /** The page resumed (false: the demo page fell back to a cold boot). */
  resumed?: boolean;
  bytes?: Bytes;
  /** 1-minute load average when the run started. */
  load1: number;
  wallMs: number;
}

export interface Cell {
  link: string;
  variant: Variant;
  runs: number;
  failed: number;
  promptMs?: number;
  bytes?: Bytes;
  load1?: number;
}

export interface Target {
  what: string;
  value: string;
  goal: string;
  met: boolean | undefined;
  detail: string;
}

export interface ResumeReport {
  date: string;
  machine: string;
  load: { start: number[]; end: number[] };
  browser: string;
  commit: string;
  deviceCommit: string;
  minutes: number;
  rounds: number;
  quick: boolean;
  links: string[];
  files: {
    /** The page's state file (public/guest), the guest kit's, v86's own state of the IDE guest, the image. */
    state: number;
    kitState?: number;
    v86State?: number;
    image: number;
    memory: number;
  };
  runs: PageRun[];
  node: NodeRun[];
  summary: { cells: Cell[]; nodeMs?: number; targets: Target[] };
}

export function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const sec = (ms: number | undefined): string => (ms === undefined ? "–" : `${(ms / 1000).toFixed(2)} s`);
const mb = (b: number | undefined): string => (b === undefined ? "–" : (b / 1e6).toFixed(1));

export function summarize(r: Pick<ResumeReport, "runs" | "node" | "files" | "links">): ResumeReport["summary"] {
  const cells: Cell[] = [];
  for (const link of r.links) {
    for (const variant of VARIANTS) {
      const rs = r.runs.filter((x) => x.link === link && x.variant === variant);
      if (!rs.length) continue;
      const ok = rs.filter((x) => !x.error && x.promptMs !== undefined);
      const med = (f: (b: Bytes) => number): number => median(ok.map((x) => f(x.bytes!)))!;
      cells.push({
        link,
        variant,
        runs: rs.length,
        failed: rs.length - ok.length,
        promptMs: median(ok.map((x) => x.promptMs!)),
        bytes: ok.length && ok.every((x) => x.bytes) ? { total: med((b) => b.total), state: med((b) => b.state), disk: med((b) => b.disk), page: med((b) => b.page), requests: med((b) => b.requests) } : undefined,
        load1: median(rs.map((x) => x.load1)),
      });
    }
  }
  const cell = (link: string, v: Variant): Cell | undefined => cells.find((c) => c.link === link && c.variant === v);
  const targets: Target[] = [];
  const goals: Record<string, number> = { local: 2000, "80ms-20mbit": 6000 };
  for (const link of r.links) {
    const ours = cell(link, "resume")?.promptMs;
    if (goals[link] !== undefined) {
      targets.push({ what: `page open → prompt from the state, ${link}`, value: sec(ours), goal: `≤ ${goals[link] / 1000} s`, met: ours === undefined ? undefined : ours <= goals[link], detail: "" });
    }
    const cold = cell(link, "ide-cold")?.promptMs;
    const ratio = ours !== undefined && cold !== undefined ? cold / ours : undefined;
    targets.push({
      what: `v86 async IDE cold boot ÷ our resume, ${link}`,
      value: ratio === undefined ? "–" : `${ratio.toFixed(1)}×`,
      goal: "≥ 5×",
      met: ratio === undefined ? undefined : ratio >= 5,
      detail: ratio === undefined ? "not measured" : `${sec(cold)} ÷ ${sec(ours)}`,
    });
    const v86s = cell(link, "ide-v86-state")?.promptMs;
    const r2 = ours !== undefined && v86s !== undefined ? v86s / ours : undefined;
    targets.push({
      what: `v86's own state + async IDE ÷ our resume, ${link}`,
      value: r2 === undefined ? "–" : `${r2.toFixed(1)}×`,
      goal: "> 1×",
      met: r2 === undefined ? undefined : r2 > 1,
      detail: r2 === undefined ? "not measured" : `${sec(v86s)} ÷ ${sec(ours)}`,
    });
  }
  const okNode = r.node.filter((x) => !x.error && x.totalMs !== undefined);
  const nodeMs = median(okNode.map((x) => x.totalMs!));
  if (r.node.length) {
    targets.push({
      what: `Node: bootGuest() → first exec result, median of ${okNode.length}`,
      value: sec(nodeMs),
      goal: "≤ 1 s",
      met: nodeMs === undefined ? undefined : nodeMs <= 1000,
      detail: okNode.map((x) => sec(x.totalMs)).join(", "),
    });
  }
  targets.push({ what: "state file (the page's, public/guest/disk.img.state.zst)", value: `${mb(r.files.state)} MB`, goal: "≤ 8 MB", met: r.files.state <= 8e6, detail: `${r.files.state} bytes (${(r.files.state / 2 ** 20).toFixed(2)} MiB), ${r.files.memory / 2 ** 20} MiB of guest RAM` });
  return { cells, nodeMs, targets };
}

export function renderMarkdown(r: ResumeReport): string {
  const out: string[] = [];
  const load = (xs: number[]): string => xs.map((x) => x.toFixed(1)).join(" ");
  out.push(`## Resume benchmark: page open → shell prompt${r.quick ? " (quick run)" : ""}`, "");
  out.push(
    `${r.date.slice(0, 10)} · ${r.machine} · load average ${load(r.load.start)} at the start, ${load(r.load.end)} at the end · ${r.browser} · commit ${r.commit}, device code ${r.deviceCommit} · ${r.rounds} round${r.rounds > 1 ? "s" : ""}, variants alternating · run time ${r.minutes.toFixed(1)} min`,
    "",
  );
  out.push(
    `The same guest (public/guest/disk.img, ${mb(r.files.image)} MB, ${r.files.memory / 2 ** 20} MiB of RAM) three ways, each page served built by Debian's nginx on 127.0.0.1 (gzip for scripts and wasm); every link but \`local\` is bench/stream's throttling proxy. ` +
      "Time from the page's navigation start to the shell prompt on the serial console, as each page takes it: performance.now() in its serial listener when the prompt's last byte comes out; v86's disk boots the image's syslinux \"ide\" label. MB: what nginx sent during the load (state / disk image / page, scripts, wasm and BIOS). Medians.",
    "",
  );
  out.push("| link | variant | page open → prompt | MB sent | state | disk | page + BIOS | requests | runs | load (1 min) |");
  out.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const order = (c: Cell): number => LINKS.findIndex((l) => l.name === c.link) * 10 + VARIANTS.indexOf(c.variant);
  for (const c of [...r.summary.cells].sort((a, b) => order(a) - order(b))) {
    const b = c.bytes;
    out.push(
      `| ${c.link} | ${VARIANT_NAMES[c.variant]} | ${sec(c.promptMs)} | ${mb(b?.total)} | ${mb(b?.state)} | ${mb(b?.disk)} | ${mb(b?.page)} | ${b ? Math.round(b.requests) : "–"} | ${c.runs - c.failed}${c.failed ? ` (${c.failed} failed)` : ""} | ${c.load1?.toFixed(1) ?? "–"} |`,
    );
  }
  out.push("");
  const okNode = r.node.filter((x) => !x.error);
  if (r.node.length) {
    out.push(
      `Node: \`bootGuest()\` (the guest kit, resumed) → first \`exec\` result, each in a fresh process: median ${sec(r.summary.nodeMs)} of ${okNode.length} ` +
        `(resume ${sec(median(okNode.map((x) => x.bootMs!)))}, exec ${sec(median(okNode.map((x) => x.execMs!)))}; load ${load([median(r.node.map((x) => x.load1)) ?? 0])}).`,
      "",
    );
  }
  out.push(
    `Files: the page's state ${mb(r.files.state)} MB` +
      (r.files.kitState !== undefined ? `, the guest kit's ${mb(r.files.kitState)} MB` : "") +
      (r.files.v86State !== undefined ? `; v86's own state of the IDE guest at the prompt ${mb(r.files.v86State)} MB (zstd -19)` : "") +
      ".",
    "",
  );
  out.push("Targets (ratios within this run):", "");
  out.push("| target | value | goal | |", "| --- | ---: | --- | --- |");
  for (const t of r.summary.targets) out.push(`| ${t.what} | ${t.value} | ${t.goal} | ${t.met === undefined ? "" : t.met ? "met" : "**not met**"}${t.detail ? `: ${t.detail}` : ""} |`);
  const resumed = r.runs.filter((x) => x.variant === "resume" && x.timings);
  if (resumed.length) {
    out.push("", "The demo page's own steps (`nvmeDemo.timings`, ms since page open, median): where its time goes.", "");
    const steps = [...new Set(resumed.flatMap((x) => Object.keys(x.timings!)))];
    out.push(`| link | ${steps.join(" | ")} |`, `| --- | ${steps.map(() => "---:").join(" | ")} |`);
    for (const link of r.links) {
      const rs = resumed.filter((x) => x.link === link);
      if (rs.length) out.push(`| ${link} | ${steps.map((s) => median(rs.map((x) => x.timings![s]).filter((v) => v !== undefined))?.toFixed(0) ?? "–").join(" | ")} |`);
    }
  }
  const failed = [...r.runs.filter((x) => x.error), ...r.node.filter((x) => x.error).map((x) => ({ link: "node", round: 0, variant: "bootGuest", error: x.error }))];
  if (failed.length) {
    out.push("", "Failed:", "");
    for (const f of failed) out.push(`- ${f.link} round ${f.round} ${f.variant}: ${f.error!.split("\n")[0]}`);
  }
  out.push("");
  return out.join("\n");
}
