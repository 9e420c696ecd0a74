// Small live time-series charts of the device counters (uPlot), with a marker wherever the
// user switched a device setting, so the effect of a switch shows as a step at a labelled line.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface SeriesSpec {
  key: string;
  label: string;
  color: string;
  /** On a scale of its own, with its axis on the right (for a series far larger than the rest). */
  right?: boolean;
  /** Dashed line (say, for a series that often equals another). */
  dash?: number[];
}

export interface ChartSpec {
  id: string;
  title: string;
  /** Unit for the y axis values. */
  unit: string;
  series: SeriesSpec[];
  /** Decimals on the y axis (default 0). */
  decimals?: number;
}

export type Sample = Record<string, number | null>;

interface Chart {
  spec: ChartSpec;
  plot: uPlot;
  box: HTMLElement;
}

interface Marker {
  t: number;
  label: string;
}

const AXIS = "#8a93a3";
const GRID = "rgba(255,255,255,0.07)";
const HEIGHT = 130;
const INTEGER_STEPS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7].map((p) => m * p)).sort((a, b) => a - b);

const fmt = (v: number, decimals: number): string => {
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (Math.abs(v) >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(decimals);
};

export class LiveCharts {
  /** Where each chart goes (its title shown from the start). */
  private readonly boxes: (Omit<Chart, "plot"> & { host: HTMLElement })[] = [];
  private readonly charts: Chart[] = [];
  private readonly times: number[] = [];
  private readonly values = new Map<string, (number | null)[]>();
  private readonly markers: Marker[] = [];
  private readonly resize: ResizeObserver;
  private pending = false;

  constructor(
    root: HTMLElement,
    specs: ChartSpec[],
    /** Samples kept (the charts' time span). */
    private readonly history: number,
  ) {
    root.textContent = "";
    for (const spec of specs) {
      const box = document.createElement("div");
      box.className = "chart-box";
      box.dataset.chart = spec.id;
      const title = document.createElement("div");
      title.className = "chart-title";
      title.textContent = spec.title;
      const host = document.createElement("div");
      host.className = "chart-host";
      box.append(title, host);
      root.append(box);
      for (const s of spec.series) this.values.set(s.key, []);
      this.boxes.push({ spec, box, host });
    }
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(root);
  }

  /**
   * The uPlot charts, made with the first sample: making and drawing five of them takes ~0.1 s of
   * the page's thread, which as the page opens is the resume's.
   */
  private build(): void {
    if (this.charts.length > 0) return;
    for (const { spec, box, host } of this.boxes) {
      const decimals = spec.decimals ?? 0;
      const right = spec.series.find((s) => s.right);
      const range: uPlot.Range.Function = (_u, _min, max) => [0, max > 0 ? max * 1.1 : decimals > 0 ? 1 : 10];
      const yAxis = (scale: string, color: string, side: 1 | 3, grid: boolean): uPlot.Axis => ({
        scale,
        side,
        stroke: color,
        grid: { show: grid, stroke: GRID, width: 1 },
        ticks: { show: false },
        size: 40,
        gap: 3,
        // Counts: no ticks between whole numbers.
        incrs: decimals > 0 ? undefined : INTEGER_STEPS,
        font: "10px system-ui, sans-serif",
        values: (_u, splits) => splits.map((v) => fmt(v, decimals)),
      });
      const plot = new uPlot(
        {
          width: 300,
          height: HEIGHT,
          legend: { show: true, live: false },
          cursor: { show: true, drag: { x: false, y: false }, points: { show: false } },
          scales: { x: { time: false }, y: { range }, ...(right ? { right: { range } } : {}) },
          axes: [
            {
              stroke: AXIS,
              grid: { stroke: GRID, width: 1 },
              ticks: { show: false },
              size: 22,
              font: "10px system-ui, sans-serif",
              values: (_u, splits) => splits.map((v) => `${Math.round(v)} s`),
            },
            yAxis("y", AXIS, 3, true),
            ...(right ? [yAxis("right", right.color, 1, false)] : []),
          ],
          series: [
            { label: "t" },
            ...spec.series.map((s) => ({
              label: s.right ? `${s.label} (right axis)` : s.label,
              scale: s.right ? "right" : "y",
              stroke: s.color,
              width: 1.5,
              dash: s.dash,
              points: { show: false },
              value: (_u: uPlot, v: number | null) => (v == null ? "–" : `${fmt(v, decimals)} ${spec.unit}`),
            })),
          ],
          hooks: { draw: [(u) => this.drawMarkers(u)] },
        },
        [[], ...spec.series.map(() => [])],
        host,
      );
      this.charts.push({ spec, plot, box });
    }
    this.fit();
  }

  /** Adds one sample at `t` seconds. */
  push(t: number, sample: Sample): void {
    this.build();
    this.times.push(t);
    for (const [k, arr] of this.values) arr.push(sample[k] ?? null);
    if (this.times.length > this.history) {
      this.times.shift();
      for (const arr of this.values.values()) arr.shift();
    }
    while (this.markers.length > 0 && this.markers[0].t < this.times[0]) this.markers.shift();
    this.redraw();
  }

  /** A labelled vertical line at `t` seconds (a setting switched). */
  mark(t: number, label: string): void {
    this.markers.push({ t, label });
    this.redraw();
  }

  reset(): void {
    this.times.length = 0;
    for (const arr of this.values.values()) arr.length = 0;
    this.markers.length = 0;
    this.redraw();
  }

  /** What each chart shows now (for tests): samples and the largest value of each series. */
  snapshot(): Record<string, { samples: number; max: Record<string, number>; width: number; height: number }> {
    this.build();
    const out: Record<string, { samples: number; max: Record<string, number>; width: number; height: number }> = {};
    for (const c of this.charts) {
      const max: Record<string, number> = {};
      for (const s of c.spec.series) max[s.key] = Math.max(0, ...(this.values.get(s.key) ?? []).map((v) => v ?? 0));
      out[c.spec.id] = { samples: this.times.length, max, width: c.plot.width, height: c.plot.height };
    }
    return out;
  }

  /** Markers currently on the charts. */
  get marks(): readonly Marker[] {
    return this.markers;
  }

  private redraw(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      for (const c of this.charts) {
        c.plot.setData([this.times.slice(), ...c.spec.series.map((s) => this.values.get(s.key)!.slice())] as uPlot.AlignedData);
      }
    });
  }

  private fit(): void {
    for (const c of this.charts) {
      const w = Math.max(160, Math.floor(c.box.clientWidth));
      if (w !== c.plot.width) c.plot.setSize({ width: w, height: HEIGHT });
    }
  }

  private drawMarkers(u: uPlot): void {
    if (this.markers.length === 0) return;
    const { ctx, bbox } = u;
    const dpr = devicePixelRatio || 1;
    ctx.save();
    ctx.font = `${10 * dpr}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    // Labels go on the first row where they do not run into the previous label.
    const rowEnds: number[] = [];
    const rowHeight = 11 * dpr;
    for (const m of this.markers) {
      const x = Math.round(u.valToPos(m.t, "x", true));
      if (x < bbox.left || x > bbox.left + bbox.width) continue;
      ctx.strokeStyle = "rgba(255,255,255,0.45)";
      ctx.setLineDash([3 * dpr, 3 * dpr]);
      ctx.lineWidth = dpr;
      ctx.beginPath();
      ctx.moveTo(x + 0.5, bbox.top);
      ctx.lineTo(x + 0.5, bbox.top + bbox.height);
      ctx.stroke();
      const w = ctx.measureText(m.label).width;
      const tx = x + 3 * dpr + w > bbox.left + bbox.width ? x - 3 * dpr - w : x + 3 * dpr;
      let row = rowEnds.findIndex((end) => end < tx);
      if (row < 0) row = rowEnds.length;
      rowEnds[row] = tx + w + 4 * dpr;
      const ty = bbox.top + 2 * dpr + row * rowHeight;
      ctx.fillStyle = "rgba(18,21,27,0.55)";
      ctx.fillRect(tx - dpr, ty - dpr, w + 2 * dpr, rowHeight);
      ctx.fillStyle = "rgba(255,255,255,0.8)";
      ctx.fillText(m.label, tx, ty);
    }
    ctx.restore();
  }
}
