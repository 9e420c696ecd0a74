// The fixture's Chromium flag joins the configuration's own --js-flags (Chromium reads only one).
import { describe, expect, it } from "vitest";
import { withJsFlag } from "../../src/playwright/launch.ts";

describe("withJsFlag", () => {
  it("adds --js-flags when the configuration has none, keeping the other arguments", () => {
    const given = { executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] };
    expect(withJsFlag(given, "--liftoff-only")).toEqual({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--js-flags=--liftoff-only"] });
    expect(given.args, "the configuration's own array").toEqual(["--no-sandbox"]);
    expect(withJsFlag({}, "--liftoff-only").args).toEqual(["--js-flags=--liftoff-only"]);
  });

  it("joins the flags the configuration gives, once", () => {
    const once = withJsFlag({ args: ["--js-flags=--expose-gc", "--mute-audio"] }, "--liftoff-only");
    expect(once.args).toEqual(["--js-flags=--expose-gc --liftoff-only", "--mute-audio"]);
    expect(withJsFlag(once, "--liftoff-only").args).toEqual(once.args);
  });
});
