// SeaBIOS's own words when it finds nothing to boot, read off v86's VGA text screen.

/** SeaBIOS's lines that matter for a failed boot ("Boot failed: …", "No bootable device."), once it gave up; else undefined. */
export function readSeaBiosFailure(screen: HTMLElement): string | undefined {
  const text = screen.querySelector(".screen-text") ?? screen;
  // v86 draws text mode as one element per row.
  const rows = text.children.length > 0 ? Array.from(text.children, (r) => r.textContent ?? "") : (text.textContent ?? "").split("\n");
  if (!rows.some((r) => /No bootable device/i.test(r))) return undefined;
  const said = rows
    .map((r) => r.replace(/\s+/g, " ").trim())
    // The CD-ROM and floppy drives v86 always has are tried first and fail on every boot: not news.
    .filter((r) => /Boot failed|No bootable device|not a bootable disk/i.test(r) && !/CDROM|floppy/i.test(r));
  return [...new Set(said)].join(" ");
}

/**
 * Watches the VGA text while SeaBIOS looks for something to boot: "No bootable device" calls
 * `failed` with SeaBIOS's own words at once (it would only retry in a minute). Stops watching
 * once `done()` says so (the guest wrote to its serial console, another boot began) or after a
 * minute.
 */
export function watchSeaBios(screen: HTMLElement, done: () => boolean, failed: (words: string) => void): void {
  const started = performance.now();
  const timer = setInterval(() => {
    if (done() || performance.now() - started > 60_000) {
      clearInterval(timer);
      return;
    }
    const words = readSeaBiosFailure(screen);
    if (!words) return;
    clearInterval(timer);
    failed(words);
  }, 250);
}
