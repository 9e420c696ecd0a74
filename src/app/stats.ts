// The device counters panel: rates computed from two samples of the adapter's and the
// controller's counters, refreshed twice a second, as cards, live charts (uPlot) and a table.

import { LiveCharts, type ChartSpec, type Sample } from "./charts.ts";

export type Counters = Record<string, number>;

const PERIOD_MS = 500;
const HISTORY = 180; // samples: 90 seconds
/** Fewer commands than this in one sample make per-command figures noise: left out. */
const MIN_COMMANDS = 8;

const COLORS = {
  read: "#5aa9ff",
  write: "#ffa64d",
  mmio: "#ff6b6b",
  shadow: "#4cd07d",
  eventIdx: "#c792ea",
  irq: "#ffd75a",
};

const CHARTS: ChartSpec[] = [
  { id: "iops", title: "I/O per second", unit: "IOPS", series: [
    { key: "readIops", label: "read", color: COLORS.read },
    { key: "writeIops", label: "write", color: COLORS.write },
  ] },
  { id: "mbps", title: "MB per second", unit: "MB/s", decimals: 1, series: [
    { key: "readMBps", label: "read", color: COLORS.read },
    { key: "writeMBps", label: "write", color: COLORS.write },
  ] },
  { id: "doorbells", title: "Doorbells per second", unit: "/s", series: [
    { key: "mmioPerSec", label: "MMIO writes", color: COLORS.mmio },
    { key: "shadowPerSec", label: "shadow reads", color: COLORS.shadow, right: true },
    { key: "eventIdxPerSec", label: "EventIdx writes", color: COLORS.eventIdx, dash: [5, 3] },
  ] },
  { id: "irq", title: "Interrupts per second", unit: "/s", series: [
    { key: "irqPerSec", label: "interrupts", color: COLORS.irq },
  ] },
  { id: "percmd", title: "Per command", unit: "", decimals: 2, series: [
    { key: "mmioPerCmd", label: "MMIO doorbells", color: COLORS.mmio },
    { key: "eventIdxPerCmd", label: "EventIdx writes", color: COLORS.eventIdx, dash: [5, 3] },
    { key: "irqPerCmd", label: "interrupts", color: COLORS.irq },
  ] },
];

const TABLE: [string, string][] = [
  ["mmioDoorbellWrites", "MMIO doorbell writes"],
  ["shadowDoorbellReads", "shadow doorbell reads"],
  ["eventIdxWrites", "EventIdx writes"],
  ["sqesFetched", "commands fetched"],
  ["sglCommands", "commands with SGLs"],
  ["interrupts", "interrupts (INTx)"],
  ["ticks", "timer ticks"],
  ["polls", "queue polls"],
  ["bytesRead", "MB read"],
  ["bytesWritten", "MB written"],
  ["readCommands", "read commands"],
  ["writeCommands", "write commands"],
  ["flushCommands", "flush commands"],
  ["adminCommands", "admin commands"],
];

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

const n0 = (x: number): string => Math.round(x).toLocaleString("en-US");
const n1 = (x: number): string => (x >= 100 ? n0(x) : x.toFixed(1));
const mb = (bytes: number): string => n1(bytes / 1e6);

interface Card {
  value: HTMLElement;
  sub: HTMLElement;
}

export interface StatsElements {
  cards: HTMLElement;
  charts: HTMLElement;
  table: HTMLElement;
}

export class StatsPanel {
  private readonly cards = new Map<string, Card>();
  private readonly table = new Map<string, HTMLElement[]>();
  readonly charts: LiveCharts;
  private prev: { t: number; c: Counters } | undefined;
  private t0 = 0;
  private peakInflight = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastActivity = 0;

  constructor(
    root: StatsElements,
    private readonly source: () => Counters | undefined,
    private readonly led?: HTMLElement,
  ) {
    root.cards.textContent = "";
    for (const [key, label] of [
      ["iops", "IOPS"],
      ["mbps", "MB/s"],
      ["qd", "Queue depth"],
      ["irq", "Interrupts/s"],
    ] as const) {
      const card = el("div", "card");
      const value = el("div", "card-value", "–");
      const sub = el("div", "card-sub", "\u00a0");
      card.append(el("div", "card-label", label), value, sub);
      card.dataset.stat = key;
      root.cards.append(card);
      this.cards.set(key, { value, sub });
    }

    this.charts = new LiveCharts(root.charts, CHARTS, HISTORY);

    const tbl = el("table", "counters");
    const head = el("tr");
    for (const h of ["", "total", "per second", "per command"]) head.append(el("th", undefined, h));
    tbl.append(head);
    for (const [key, label] of TABLE) {
      const tr = el("tr");
      const cells = [el("td", "num", "–"), el("td", "num", "–"), el("td", "num", "–")];
      tr.append(el("td", undefined, label), ...cells);
      tr.dataset.counter = key;
      tbl.append(tr);
      this.table.set(key, cells);
    }
    root.table.replaceChildren(tbl);
  }

  /** Samples from now on; the first in PERIOD_MS (a resumed guest's prompt comes first). */
  start(): void {
    this.stop();
    this.timer = setInterval(() => this.sample(), PERIOD_MS);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Forget the previous device (a new boot). */
  reset(): void {
    this.prev = undefined;
    this.t0 = performance.now();
    this.peakInflight = 0;
    for (const r of this.cards.values()) {
      r.value.textContent = "–";
      r.sub.textContent = "\u00a0";
    }
    for (const cells of this.table.values()) for (const c of cells) c.textContent = "–";
    this.charts.reset();
  }

  /** Seconds since the boot began (the charts' time axis). */
  now(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** A labelled line on every chart (a device setting switched). */
  mark(label: string): void {
    this.charts.mark(this.now(), label);
  }

  /** A data transfer finished (bus events): lights the activity LED. */
  activity(): void {
    this.lastActivity = performance.now();
    this.led?.classList.add("on");
  }

  private sample(): void {
    if (this.led && performance.now() - this.lastActivity > 150) this.led.classList.remove("on");
    const c = this.source();
    if (!c) return;
    const t = performance.now();
    const p = this.prev;
    this.prev = { t, c: { ...c } };
    const dt = p ? (t - p.t) / 1000 : 0;
    const delta = (k: string): number => (p ? Math.max(0, (c[k] ?? 0) - (p.c[k] ?? 0)) : 0);
    const rate = (k: string): number => (dt > 0 ? delta(k) / dt : 0);
    const cmds = delta("sqesFetched");
    const perCmd = (k: string): number | null => (cmds >= MIN_COMMANDS ? delta(k) / cmds : null);

    const rIops = rate("readCommands");
    const wIops = rate("writeCommands");
    this.card("iops", n0(rIops + wIops), `read ${n0(rIops)} · write ${n0(wIops)}`);
    const rB = rate("bytesRead");
    const wB = rate("bytesWritten");
    this.card("mbps", mb(rB + wB), `read ${mb(rB)} · write ${mb(wB)}`);

    const inflight = c.inflight ?? 0;
    this.peakInflight = Math.max(this.peakInflight, inflight);
    const busyPolls = rate("polls") - rate("emptyPolls");
    const batch = busyPolls > 0 ? rate("sqesFetched") / busyPolls : 0;
    this.card("qd", String(inflight), `in flight · peak ${this.peakInflight} · ${batch.toFixed(1)}/poll`);
    this.card("irq", n0(rate("interrupts")), `total ${n0(c.interrupts ?? 0)} · ${n0(rate("ticks"))} ticks/s`);

    for (const [k, [total, perSec, perCommand]] of this.table) {
      const bytes = k.startsWith("bytes");
      total.textContent = bytes ? mb(c[k] ?? 0) : n0(c[k] ?? 0);
      perSec.textContent = p ? (bytes ? mb(rate(k)) : n0(rate(k))) : "–";
      const pc = perCmd(k);
      perCommand.textContent = pc === null || bytes || k === "sqesFetched" ? "–" : pc.toFixed(pc >= 100 ? 0 : 2);
    }

    if (!p) return;
    const s: Sample = {
      readIops: rIops,
      writeIops: wIops,
      readMBps: rB / 1e6,
      writeMBps: wB / 1e6,
      mmioPerSec: rate("mmioDoorbellWrites"),
      shadowPerSec: rate("shadowDoorbellReads"),
      eventIdxPerSec: rate("eventIdxWrites"),
      irqPerSec: rate("interrupts"),
      mmioPerCmd: perCmd("mmioDoorbellWrites"),
      eventIdxPerCmd: perCmd("eventIdxWrites"),
      irqPerCmd: perCmd("interrupts"),
    };
    this.charts.push((t - this.t0) / 1000, s);
  }

  private card(key: string, value: string, sub: string): void {
    const r = this.cards.get(key)!;
    r.value.textContent = value;
    r.sub.textContent = sub;
  }
}
