// A guest that did not come up: what its serial console and VGA text screen showed, so that the
// message can quote the firmware ("No bootable device.") instead of waiting out a timeout.

export class BootError extends Error {
  constructor(
    message: string,
    /** The serial console's text at the failure. */
    readonly serial: string,
    /** The VGA text screen's lines at the failure. */
    readonly screen: string[],
  ) {
    super(message);
    this.name = "BootError";
  }
}

/** SeaBIOS's last word when nothing boots (it then retries after a minute). */
const NOTHING_TO_BOOT = /No bootable device/;

/**
 * Whether SeaBIOS failed to boot the hard disk: the guest's disks come first in its boot order
 * (see bootGuest's boot_order), so what it tries after them (CD, floppy) cannot be the guest.
 */
function diskFailed(screen: string[]): boolean {
  const i = screen.findIndex((l) => l.includes("Booting from Hard Disk"));
  return i >= 0 && i + 1 < screen.length && screen[i + 1].includes("Boot failed");
}

/**
 * A BootError when the screen shows that the firmware gave up; undefined while it has not. The
 * message quotes SeaBIOS ("Boot failed: not a bootable disk") and says what to check.
 */
export function firmwareGaveUp(screen: string[], serial: string): BootError | undefined {
  if (!diskFailed(screen) && !screen.some((l) => NOTHING_TO_BOOT.test(l))) return undefined;
  const said = screen.filter((l) => /Boot failed|No bootable device|Booting from/.test(l)).map((l) => `  ${l.trim()}`);
  return new BootError(
    `the guest did not boot: SeaBIOS found nothing bootable on the disk:\n${said.join("\n")}\n` +
      "Is the image a whole bootable disk (a partition table and a boot loader, e.g. syslinux or GRUB, whose kernel has the NVMe driver)?",
    serial,
    screen,
  );
}
