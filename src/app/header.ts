// The header's boot notes: the notice above the screen and the link between resuming the saved
// state and booting cold.

import { ui } from "./elements.ts";

/** Shows (or hides) the notice above the screen. */
export function notice(text: string | undefined): void {
  ui.notice.textContent = text ?? "";
  ui.notice.hidden = !text;
}

/** The header's link between resuming and booting cold, when the bundled image has a state. */
export function showBootMode(hasState: boolean, coldRequested: boolean): void {
  if (!hasState) return;
  const link = ui.bootMode;
  link.textContent = coldRequested ? "resume the saved state" : "cold boot";
  link.href = coldRequested ? location.pathname : `${location.pathname}?boot=cold`;
  link.title = coldRequested
    ? "Reload the page and resume the bundled guest from its saved state"
    : "Reload the page and boot the bundled image from SeaBIOS on, without its saved state";
  link.hidden = false;
}
