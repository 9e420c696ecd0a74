// The device counters panel: rates computed from two samples of the adapter's and the
// controller's counters, refreshed twice a second, with a minute of throughput history.

export type Counters = Record<string, number>;

const PERIOD_MS = 500;
const HISTORY = 120; // samples: one minute

interface Row {
  value: HTMLElement;
  sub: HTMLElement;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

const n0 = (x: number): string => Math.round(x).toLocaleString("en-US");
const n1 = (x: number): string => (x >= 100 ? n0(x) : x.toFixed(1));
const mb = (bytes: number): string => n1(bytes / 1e6);

export class StatsPanel {
  private readonly cards = new Map<string, Row>();
  private readonly table = new Map<string, HTMLElement[]>();
  private readonly chart: HTMLCanvasElement;
  private readonly led: HTMLElement | undefined;
  private prev: { t: number; c: Counters } | undefined;
  private readonly readHist: number[] = [];
  private readonly writeHist: number[] = [];
  private peakInflight = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastActivity = 0;

  constructor(root: HTMLElement, private readonly source: () => Counters | undefined, led?: HTMLElement) {
    this.led = led;
    root.textContent = "";
    const cards = el("div", "cards");
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
      cards.append(card);
      this.cards.set(key, { value, sub });
    }
    this.chart = el("canvas", "chart");
    this.chart.width = 480;
    this.chart.height = 90;
    this.chart.title = "throughput over the last minute (read: blue, write: orange)";

    const tbl = el("table", "counters");
    const head = el("tr");
    for (const h of ["", "total", "per second"]) head.append(el("th", undefined, h));
    tbl.append(head);
    for (const [key, label] of [
      ["mmioDoorbellWrites", "MMIO doorbell writes"],
      ["shadowDoorbellReads", "shadow doorbell reads"],
      ["eventIdxWrites", "EventIdx writes"],
      ["sqesFetched", "commands fetched"],
      ["interrupts", "interrupts (INTx)"],
      ["ticks", "timer ticks"],
      ["polls", "queue polls"],
      ["bytesRead", "MB read"],
      ["bytesWritten", "MB written"],
      ["readCommands", "read commands"],
      ["writeCommands", "write commands"],
      ["flushCommands", "flush commands"],
      ["adminCommands", "admin commands"],
    ] as const) {
      const tr = el("tr");
      const total = el("td", "num", "–");
      const rate = el("td", "num", "–");
      tr.append(el("td", undefined, label), total, rate);
      tr.dataset.counter = key;
      tbl.append(tr);
      this.table.set(key, [total, rate]);
    }
    root.append(cards, this.chart, tbl);
  }

  start(): void {
    this.stop();
    this.timer = setInterval(() => this.sample(), PERIOD_MS);
    this.sample();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Forget the previous device (a new boot). */
  reset(): void {
    this.prev = undefined;
    this.readHist.length = 0;
    this.writeHist.length = 0;
    this.peakInflight = 0;
    for (const r of this.cards.values()) {
      r.value.textContent = "–";
      r.sub.textContent = "\u00a0";
    }
    for (const [a, b] of this.table.values()) a.textContent = b.textContent = "–";
    this.drawChart();
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
    const rate = (k: string): number => (p && dt > 0 ? Math.max(0, ((c[k] ?? 0) - (p.c[k] ?? 0)) / dt) : 0);

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

    for (const [k, [total, perSec]] of this.table) {
      const bytes = k.startsWith("bytes");
      total.textContent = bytes ? mb(c[k] ?? 0) : n0(c[k] ?? 0);
      perSec.textContent = p ? (bytes ? mb(rate(k)) : n0(rate(k))) : "–";
    }

    if (p) {
      this.readHist.push(rB / 1e6);
      this.writeHist.push(wB / 1e6);
      if (this.readHist.length > HISTORY) this.readHist.shift();
      if (this.writeHist.length > HISTORY) this.writeHist.shift();
      this.drawChart();
    }
  }

  private card(key: string, value: string, sub: string): void {
    const r = this.cards.get(key)!;
    r.value.textContent = value;
    r.sub.textContent = sub;
  }

  private drawChart(): void {
    const g = this.chart.getContext("2d");
    if (!g) return;
    const { width: w, height: h } = this.chart;
    g.clearRect(0, 0, w, h);
    const max = Math.max(1, ...this.readHist, ...this.writeHist);
    g.strokeStyle = "rgba(255,255,255,0.08)";
    g.beginPath();
    for (let i = 1; i < 4; i++) {
      g.moveTo(0, Math.round((h * i) / 4) + 0.5);
      g.lineTo(w, Math.round((h * i) / 4) + 0.5);
    }
    g.stroke();
    const line = (data: number[], color: string): void => {
      if (data.length < 2) return;
      g.strokeStyle = color;
      g.lineWidth = 1.5;
      g.beginPath();
      data.forEach((v, i) => {
        const x = w - (data.length - 1 - i) * (w / (HISTORY - 1));
        const y = h - 2 - (v / max) * (h - 14);
        if (i === 0) g.moveTo(x, y);
        else g.lineTo(x, y);
      });
      g.stroke();
    };
    line(this.readHist, "#5aa9ff");
    line(this.writeHist, "#ffa64d");
    g.fillStyle = "rgba(255,255,255,0.55)";
    g.font = "11px system-ui, sans-serif";
    g.fillText(`${n1(max)} MB/s`, 4, 11);
  }
}
