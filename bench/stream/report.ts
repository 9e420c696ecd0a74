// The streaming benchmark's report: per-run records, medians per image × link × variant, the
// issue's two targets as ratios within the run, and the Markdown rendering.

import { LINKS, TARGET_LINK, VARIANTS, type Variant } from "./plan.ts";

export interface Run {
  image: string;
  link: string;
  round: number;
  variant: Variant;
  error?: string;
  bootMs?: number;
  lastReadMs?: number;
  waitMs?: number;
  /** GET requests for the image that nginx answered during the boot. */
  requests?: number;
  /** Body bytes nginx sent for them. */
  bytes?: number;
  guestReads?: number;
  /** Distinct bytes the guest read. */
  guestReadBytes?: number;
  /** bytes − guestReadBytes (at least 0). */
  unreadBytes?: number;
  marks?: Record<string, number>;
  /** Bytes the NVMe disk had fetched when each marker appeared. */
  fetchedAt?: Record<string, number>;
  backend?: Record<string, number>;
  wallMs?: number;
}

type Measure = "bootMs" | "lastReadMs" | "waitMs" | "requests" | "bytes" | "guestReadBytes" | "unreadBytes";
const MEASURES: Measure[] = ["bootMs", "lastReadMs", "waitMs", "requests", "bytes", "guestReadBytes", "unreadBytes"];

export interface Cell {
  image: string;
  link: string;
  variant: Variant;
  runs: number;
  failed: number;
  median: Partial<Record<Measure, number>>;
}

export interface Target {
  image: string;
  what: string;
  value: number | undefined;
  goal: string;
  met: boolean | undefined;
  detail: string;
}

export interface StreamReport {
  date: string;
  machine: string;
  browser: string;
  commit: string;
  minutes: number;
  rounds: number;
  quick: boolean;
  /** Per image: its size, the links it ran on, whether a boot-trace manifest was beside it. */
  images: Record<string, { bytes: number; links: string[]; bootTrace?: boolean }>;
  runs: Run[];
  summary: { cells: Cell[]; targets: Target[] };
}

function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function summarize(runs: Run[]): { cells: Cell[]; targets: Target[] } {
  const cells: Cell[] = [];
  const key = (r: { image: string; link: string; variant: string }) => `${r.image}|${r.link}|${r.variant}`;
  const groups = new Map<string, Run[]>();
  for (const r of runs) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  for (const [, rs] of groups) {
    const ok = rs.filter((r) => !r.error);
    const med: Cell["median"] = {};
    for (const m of MEASURES) med[m] = median(ok.map((r) => r[m]!).filter((x) => x !== undefined));
    cells.push({ image: rs[0].image, link: rs[0].link, variant: rs[0].variant, runs: rs.length, failed: rs.length - ok.length, median: med });
  }
  const cell = (image: string, link: string, variant: Variant) => cells.find((c) => c.image === image && c.link === link && c.variant === variant);
  const targets: Target[] = [];
  const link = LINKS.find((l) => l.name === TARGET_LINK)!;
  for (const image of [...new Set(runs.map((r) => r.image))]) {
    const ide = cell(image, TARGET_LINK, "ide")?.median.bootMs;
    const nvme = cell(image, TARGET_LINK, "nvme")?.median.bootMs;
    const trace = cell(image, TARGET_LINK, "nvme-trace");
    const best = trace?.median.bootMs ?? nvme;
    const speedup = ide !== undefined && best !== undefined ? ide / best : undefined;
    targets.push({
      image,
      what: `v86's async disk ÷ NVMe${trace ? " with boot trace" : ""}, boot to shell on ${TARGET_LINK}`,
      value: speedup,
      goal: "≥ 2",
      met: speedup === undefined ? undefined : speedup >= 2,
      detail: ide !== undefined && best !== undefined ? `${s(ide)} ÷ ${s(best)}` : "not measured",
    });
    const ideWait = cell(image, TARGET_LINK, "ide")?.median.waitMs;
    const bestWait = (trace ?? cell(image, TARGET_LINK, "nvme"))?.median.waitMs;
    const waitRatio = ideWait !== undefined && bestWait ? ideWait / bestWait : undefined;
    targets.push({
      image,
      what: `v86's async disk ÷ NVMe${trace ? " with boot trace" : ""}, time the guest waited for disk reads on ${TARGET_LINK}`,
      value: waitRatio,
      goal: "(no target)",
      met: undefined,
      detail: ideWait !== undefined && bestWait !== undefined ? `${s(ideWait)} ÷ ${s(bestWait)}` : "not measured",
    });
    const local = (cell(image, "local", "nvme-trace") ?? cell(image, "local", "nvme"))?.median.bootMs;
    const read = (trace ?? cell(image, TARGET_LINK, "nvme"))?.median.guestReadBytes;
    const ideal = local !== undefined && read !== undefined ? local + (read * 8) / (link.mbit * 1e6) * 1000 : undefined;
    const ratio = best !== undefined && ideal !== undefined ? best / ideal : undefined;
    targets.push({
      image,
      what: `NVMe${trace ? " with boot trace" : ""} on ${TARGET_LINK} ÷ (local boot + bytes read ÷ bandwidth)`,
      value: ratio,
      goal: "≤ 1.2",
      met: ratio === undefined ? undefined : ratio <= 1.2,
      detail:
        ideal !== undefined && best !== undefined && local !== undefined && read !== undefined
          ? `${s(best)} ÷ (${s(local)} + ${mib(read)} MiB at ${link.mbit} Mbit/s = ${s(ideal)})`
          : "needs the local and the target link",
    });
  }
  return { cells, targets };
}

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
const num = (x: number | undefined, f: (x: number) => string): string => (x === undefined ? "–" : f(x));

const VARIANT_NAMES: Record<Variant, string> = {
  ide: "v86 async IDE disk",
  nvme: "NVMe HttpBackend, no boot trace",
  "nvme-trace": "NVMe HttpBackend, boot trace",
};

export function renderMarkdown(r: StreamReport): string {
  const out: string[] = [];
  out.push(`## Streaming benchmark: images read lazily over HTTP${r.quick ? " (quick run)" : ""}`, "");
  out.push(
    `${r.date.slice(0, 10)} · ${r.machine} · ${r.browser} · commit ${r.commit} · ${r.rounds} round${r.rounds > 1 ? "s" : ""}, variants alternating · run time ${r.minutes.toFixed(1)} min`,
    "",
  );
  out.push(
    "Debian's nginx on 127.0.0.1 serves the images; every link but `local` is a throttling proxy (a round trip per request and one more per new connection, the bandwidth shared by all connections). " +
      "Images: " +
      Object.entries(r.images)
        .map(([n, i]) => `${n} (${mib(i.bytes)} MiB)`)
        .join(", ") +
      ". Medians; times from the emulator's start.",
    "",
  );
  const untraced = Object.entries(r.images).filter(([, i]) => i.bootTrace === false);
  if (untraced.length) {
    out.push(`No boot-trace manifest beside ${untraced.map(([n]) => n).join(", ")}: there the "boot trace" disk boots without one.`, "");
  }
  out.push("| image | link | disk | boot to shell | last boot read | read wait | requests | MiB fetched | MiB read by guest | MiB never read | runs |");
  out.push("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const order = (c: { image: string; link: string; variant: Variant }) =>
    [c.image, LINKS.findIndex((l) => l.name === c.link), VARIANTS.indexOf(c.variant)] as const;
  const cells = [...r.summary.cells].sort((a, b) => {
    const [ai, al, av] = order(a);
    const [bi, bl, bv] = order(b);
    return ai.localeCompare(bi) || al - bl || av - bv;
  });
  for (const c of cells) {
    const m = c.median;
    out.push(
      `| ${c.image} | ${c.link} | ${VARIANT_NAMES[c.variant]} | ${num(m.bootMs, s)} | ${num(m.lastReadMs, s)} | ${num(m.waitMs, s)} | ${num(m.requests, (x) => String(Math.round(x)))} | ${num(m.bytes, mib)} | ${num(m.guestReadBytes, mib)} | ${num(m.unreadBytes, mib)} | ${c.runs - c.failed}${c.failed ? ` (${c.failed} failed)` : ""} |`,
    );
  }
  const workload = r.runs.filter((x) => x.marks?.["V86NVME-WORKLOAD-DONE"] !== undefined && x.marks["V86NVME-WORKLOAD-START"] !== undefined);
  if (workload.length) {
    out.push("", "The large image's workload (reading 158 MiB of files before the prompt), from its start to its end marker on the console:", "");
    out.push("| link | disk | workload | runs |", "| --- | --- | ---: | ---: |");
    for (const c of cells.filter((c) => workload.some((x) => x.image === c.image && x.link === c.link && x.variant === c.variant))) {
      const ms = workload.filter((x) => x.image === c.image && x.link === c.link && x.variant === c.variant).map((x) => x.marks!["V86NVME-WORKLOAD-DONE"] - x.marks!["V86NVME-WORKLOAD-START"]);
      out.push(`| ${c.link} | ${VARIANT_NAMES[c.variant]} | ${num(median(ms), s)} | ${ms.length} |`);
    }
  }
  out.push("", "Targets (ratios within this run):", "");
  out.push("| image | ratio | value | goal | |", "| --- | --- | ---: | --- | --- |");
  for (const t of r.summary.targets) {
    const verdict = t.met === undefined ? "" : t.met ? "met: " : "not met: ";
    out.push(`| ${t.image} | ${t.what} | ${num(t.value, (x) => x.toFixed(2))} | ${t.goal} | ${verdict}${t.detail} |`);
  }
  const failed = r.runs.filter((x) => x.error);
  if (failed.length) {
    out.push("", "Failed boots:", "");
    for (const f of failed) out.push(`- ${f.image} ${f.link} round ${f.round} ${f.variant}: ${f.error!.split("\n")[0]}`);
  }
  out.push(
    "",
    "Last boot read: the end of the last disk read before the prompt. Read wait: time during which at least one guest read was waiting for the network (v86's disk buffer callbacks, or the NVMe namespace's backend reads that missed its cache). Requests and MiB fetched: nginx's access log (GET requests for the image). Never read: fetched bytes minus the distinct bytes the guest read.",
    "",
  );
  return out.join("\n");
}
