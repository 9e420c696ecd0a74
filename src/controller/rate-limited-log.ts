// Guest misbehaviour can repeat millions of times: log the first few per interval, then a count.

export class RateLimitedLog {
  private windowStart = -Infinity;
  private inWindow = 0;
  private suppressed = 0;

  constructor(private readonly sink: (msg: string) => void, private readonly perWindow = 5, private readonly windowMs = 5000) {}

  note(msg: string, now = performance.now()): void {
    if (now - this.windowStart >= this.windowMs) {
      if (this.suppressed) this.sink(`(${this.suppressed} similar messages suppressed)`);
      this.windowStart = now;
      this.inWindow = 0;
      this.suppressed = 0;
    }
    if (this.inWindow++ < this.perWindow) this.sink(msg);
    else this.suppressed++;
  }
}
