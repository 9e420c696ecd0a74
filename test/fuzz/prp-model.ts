// The PRP walk as the NVMe spec describes it (PRP1 with an offset, PRP2 as a second page or a
// list pointer, the last entry of a full list page chaining to the next), written apart from the
// device's own walk in asm/prp.ts. The fuzzer uses it to know which guest bytes a data-in command
// may legitimately have stored into. Bad offsets are not judged here: over-approximating only
// makes the check more permissive, never wrong.

export type Region = [start: number, end: number];

/** Guest regions a transfer of `len` bytes described by PRP1/PRP2 covers; `read64` reads a list entry. */
export function prpRegions(prp1: number, prp2: number, len: number, pageSize: number, read64: (addr: number) => number | undefined): Region[] {
  const out: Region[] = [];
  if (len <= 0) return out;
  const first = Math.min(len, pageSize - (prp1 % pageSize));
  out.push([prp1, prp1 + first]);
  let left = len - first;
  if (left === 0) return out;
  if (left <= pageSize) {
    out.push([prp2, prp2 + left]);
    return out;
  }
  let list = prp2;
  // Each list page holds at least one data entry, so a loop of list pages ends here.
  for (let pages = Math.ceil(left / pageSize); left > 0 && pages >= 0; pages--) {
    const slots = Math.floor((pageSize - (list % pageSize)) / 8);
    let next: number | undefined;
    for (let i = 0; i < slots && left > 0; i++) {
      const e = read64(list + i * 8);
      if (e === undefined) return out;
      if (i === slots - 1 && left > pageSize) {
        next = e;
        break;
      }
      const n = Math.min(left, pageSize);
      out.push([e, e + n]);
      left -= n;
    }
    if (next === undefined) break;
    list = next;
  }
  return out;
}
