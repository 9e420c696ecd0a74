// The page's progress rows (src/app/progress.ts): a step shows a row only once it has lasted
// SHOW_AFTER_MS, redraws at most every REDRAW_MS with its latest values, and ends with its last
// words when given. The DOM is a minimal stand-in (vitest runs without one); time is vitest's.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ProgressBars, REDRAW_MS, SHOW_AFTER_MS } from "../../src/app/progress.ts";

/** Just what ProgressBars touches of an element. */
class FakeElement {
  children: FakeElement[] = [];
  parent: FakeElement | undefined;
  hidden = false;
  className = "";
  type = "";
  max = 0;
  value = 0;
  dataset: Record<string, string> = {};
  private text = "";
  constructor(readonly tag: string) {}
  get textContent(): string {
    return this.text + this.children.filter((c) => !c.hidden).map((c) => c.textContent).join("");
  }
  set textContent(t: string) {
    this.text = t;
  }
  get childElementCount(): number {
    return this.children.length;
  }
  append(...els: FakeElement[]): void {
    for (const e of els) {
      e.parent = this;
      this.children.push(e);
    }
  }
  remove(): void {
    if (this.parent) this.parent.children = this.parent.children.filter((c) => c !== this);
    this.parent = undefined;
  }
  removeAttribute(name: string): void {
    if (name === "value") this.value = 0;
  }
  addEventListener(): void {}
}

let root: FakeElement;
let bars: ProgressBars;
/** The text of the row `id` on the page, or undefined when it is not there. */
const row = (id: string): string | undefined => root.children.find((c) => c.dataset.progress === id)?.textContent;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
  vi.stubGlobal("document", { createElement: (tag: string) => new FakeElement(tag) });
  root = new FakeElement("section");
  root.hidden = true;
  bars = new ProgressBars(root as unknown as HTMLElement);
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("ProgressBars", () => {
  it("shows no row for a step that ends before SHOW_AFTER_MS", () => {
    bars.show("state", "downloading", 0, 100);
    vi.advanceTimersByTime(SHOW_AFTER_MS - 50);
    bars.show("state", "downloading", 90, 100);
    expect(row("state")).toBeUndefined();
    bars.done("state");
    vi.advanceTimersByTime(5 * SHOW_AFTER_MS);
    expect(row("state")).toBeUndefined();
    expect(bars.shown("state")).toBe(false);
    expect(root.hidden).toBe(true);
  });

  it("shows a lasting step's row with its latest values, even when no new value came", () => {
    bars.show("state", "downloading", 10, 100);
    vi.advanceTimersByTime(SHOW_AFTER_MS - 1);
    expect(row("state")).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(row("state")).toContain("downloading: 10 B of 100 B (10 %)");
    expect(bars.shown("state")).toBe(true);
    expect(root.hidden).toBe(false);
  });

  it("redraws at most every REDRAW_MS, and always draws the last values", () => {
    bars.show("copy", "copying", 0, 1000);
    vi.advanceTimersByTime(SHOW_AFTER_MS);
    bars.show("copy", "copying", 100, 1000);
    expect(row("copy")).toContain("(0 %)"); // drawn a moment ago: not yet
    bars.show("copy", "copying", 200, 1000);
    vi.advanceTimersByTime(REDRAW_MS - 1);
    expect(row("copy")).toContain("(0 %)");
    vi.advanceTimersByTime(1);
    expect(row("copy")).toContain("(20 %)");
    vi.advanceTimersByTime(REDRAW_MS);
    bars.show("copy", "copying", 500, 1000);
    expect(row("copy")).toContain("(50 %)"); // due: drawn at once
  });

  it("ends with last words for `linger` ms, also for a step too short to have shown a row", () => {
    bars.show("export", "exporting", 1, 2);
    bars.done("export", "export failed: no space", 1000);
    expect(row("export")).toContain("export failed: no space");
    vi.advanceTimersByTime(999);
    expect(row("export")).toBeDefined();
    vi.advanceTimersByTime(1);
    expect(row("export")).toBeUndefined();
    expect(root.hidden).toBe(true);
  });

  it("a new step under the same id while the last words linger is a row of its own", () => {
    bars.show("download", "downloading a", 1, 2);
    vi.advanceTimersByTime(SHOW_AFTER_MS);
    bars.done("download", "a downloaded", 1000);
    bars.show("download", "downloading b", 1, 4);
    vi.advanceTimersByTime(SHOW_AFTER_MS);
    expect(root.children.map((c) => c.textContent)).toEqual(["a downloaded", "downloading b: 1 B of 4 B (25 %)"]);
    vi.advanceTimersByTime(1000);
    expect(root.children).toHaveLength(1);
    expect(root.hidden).toBe(false);
  });
});
