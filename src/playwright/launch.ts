// Chromium's launch options with a V8 flag added: Chromium reads one --js-flags switch, so a flag
// joins the one the configuration already has.

import type { LaunchOptions } from "@playwright/test";

const JS_FLAGS = "--js-flags=";

/** `options` with `flag` in Chromium's --js-flags (unchanged when it is there already). */
export function withJsFlag(options: LaunchOptions, flag: string): LaunchOptions {
  const args = [...(options.args ?? [])];
  const at = args.findIndex((a) => a.startsWith(JS_FLAGS));
  if (at < 0) args.push(JS_FLAGS + flag);
  else if (!args[at].slice(JS_FLAGS.length).split(/\s+/).includes(flag)) args[at] = `${args[at]} ${flag}`;
  return { ...options, args };
}
