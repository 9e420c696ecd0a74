// Progress bars for the long steps (downloading an image or the saved state, copying an image
// into browser storage, exporting the disk): one row each, several at once, each with an optional
// Cancel button. Only steps that last get a row: one appears once its step has run SHOW_AFTER_MS,
// and redraws at most every REDRAW_MS. A page that resumes in half a second spends its two cores
// on the guest, not on drawing a bar nobody can read (every redraw is a style, layout, paint and
// raster pass of the page).

import { formatBytes } from "./loader.ts";

/** A step shorter than this shows no bar (people notice waits of about a second). */
export const SHOW_AFTER_MS = 300;
/** Redraws of a row, at most one per this (its last state is always drawn). */
export const REDRAW_MS = 100;

interface Values {
  label: string;
  loaded: number;
  total: number;
  onCancel: (() => void) | undefined;
}

interface Row {
  id: string;
  /** The latest values; drawn by draw(). */
  now: Values;
  /** When the step started (performance.now()). */
  since: number;
  /** When it was last drawn; undefined while the row is not shown yet. */
  drawnAt: number | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  el: { root: HTMLElement; bar: HTMLProgressElement; text: HTMLElement; cancel: HTMLButtonElement } | undefined;
}

export class ProgressBars {
  private readonly rows = new Map<string, Row>();

  constructor(private readonly root: HTMLElement) {}

  /**
   * Sets the row `id`: `loaded` of `total` bytes (total 0: unknown). `onCancel` adds a Cancel
   * button. Drawn once the step has lasted SHOW_AFTER_MS, then at most every REDRAW_MS.
   */
  show(id: string, label: string, loaded: number, total: number, onCancel?: () => void): void {
    let r = this.rows.get(id);
    if (!r) {
      r = { id, now: { label, loaded, total, onCancel }, since: performance.now(), drawnAt: undefined, timer: undefined, el: undefined };
      this.rows.set(id, r);
    }
    r.now = { label, loaded, total, onCancel };
    this.schedule(r);
  }

  /** Whether the row `id` is on the page (its step has lasted). */
  shown(id: string): boolean {
    return this.rows.get(id)?.el !== undefined;
  }

  /**
   * Ends the row `id`: with `text`, its last words are shown for `linger` ms (also when the step
   * was too short to show a bar); without, it goes.
   */
  done(id: string, text?: string, linger = 0): void {
    const r = this.rows.get(id);
    if (!r) return;
    clearTimeout(r.timer);
    r.timer = undefined;
    // Later values for this id start a new step, not this one's.
    this.rows.delete(id);
    if (text === undefined) return this.drop(r);
    const el = this.elements(r);
    el.text.textContent = text;
    el.cancel.hidden = true;
    if (el.bar.max > 0) el.bar.value = el.bar.max;
    if (linger > 0) setTimeout(() => this.drop(r), linger);
    else this.drop(r);
  }

  /** Draws `r` now when it is due, else once it is. */
  private schedule(r: Row): void {
    if (r.timer !== undefined) return;
    const t = performance.now();
    const due = r.drawnAt === undefined ? r.since + SHOW_AFTER_MS : r.drawnAt + REDRAW_MS;
    if (t >= due) return this.draw(r);
    r.timer = setTimeout(() => {
      r.timer = undefined;
      this.draw(r);
    }, due - t);
  }

  private draw(r: Row): void {
    const { label, loaded, total, onCancel } = r.now;
    const el = this.elements(r);
    r.drawnAt = performance.now();
    el.cancel.hidden = !onCancel;
    if (total > 0) {
      el.bar.max = total;
      el.bar.value = Math.min(loaded, total);
      el.text.textContent = `${label}: ${formatBytes(loaded)} of ${formatBytes(total)} (${Math.floor((100 * loaded) / total)} %)`;
    } else {
      el.bar.removeAttribute("value"); // indeterminate
      el.text.textContent = loaded > 0 ? `${label}: ${formatBytes(loaded)}` : label;
    }
  }

  /** The row's elements, made (and put on the page) on first use. */
  private elements(r: Row): NonNullable<Row["el"]> {
    if (r.el) return r.el;
    const root = document.createElement("div");
    root.className = "progress-row";
    root.dataset.progress = r.id;
    const bar = document.createElement("progress");
    bar.max = 1;
    const text = document.createElement("span");
    text.className = "progress-text";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.textContent = "Cancel";
    cancel.className = "small";
    cancel.hidden = true;
    cancel.addEventListener("click", () => r.now.onCancel?.());
    root.append(bar, text, cancel);
    this.root.append(root);
    this.root.hidden = false;
    r.el = { root, bar, text, cancel };
    return r.el;
  }

  /** Takes the row's elements off the page (the section goes when it is empty). */
  private drop(r: Row): void {
    r.el?.root.remove();
    this.root.hidden = this.root.childElementCount === 0;
  }
}
