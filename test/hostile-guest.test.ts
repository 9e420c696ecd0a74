import { describe, it, expect } from "vitest";
import { fuzz } from "./hostile-guest.ts";

describe("a hostile guest", () => {
  for (const seed of [1, 2, 3]) {
    it(`never crashes, hangs or stores outside guest RAM (seed ${seed})`, async () => {
      const res = await fuzz(seed, 3000);
      expect(res.canaries).toEqual([]);
      expect(res.internalErrors).toEqual([]);
      expect(res.completions).toBeGreaterThan(100);
      expect(res.stillWorks).toBe(true);
    });
  }
});
