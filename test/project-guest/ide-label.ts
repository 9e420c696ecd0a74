// The project's guest images boot syslinux's "nvme" label; v86's IDE disk needs the "ide" one.
// The DEFAULT line is patched in place, same length, so the FAT file system stays valid. Runs in
// Node (on a file's first bytes) and in the page (on the image in memory).

/** Where syslinux.cfg can be: the FAT boot partition, inside the first 64 MiB. */
export const IDE_LABEL_SPAN = 64 << 20;

/** Turns "DEFAULT nvme" into "DEFAULT  ide" in `img` (at least its first IDE_LABEL_SPAN bytes); throws when there is none. */
export function selectIdeLabel(img: Uint8Array): void {
  const enc = new TextEncoder();
  const from = enc.encode("\nDEFAULT nvme\n");
  const to = enc.encode("\nDEFAULT  ide\n");
  let found = 0;
  const end = Math.min(img.length, IDE_LABEL_SPAN) - from.length;
  for (let i = img.indexOf(from[0]); i >= 0 && i <= end; i = img.indexOf(from[0], i + 1)) {
    let k = 1;
    while (k < from.length && img[i + k] === from[k]) k++;
    if (k === from.length) {
      img.set(to, i);
      found++;
    }
  }
  if (!found) throw new Error("no 'DEFAULT nvme' line in the image: cannot select the ide label");
}
