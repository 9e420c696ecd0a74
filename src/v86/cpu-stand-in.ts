// Standing in for one of v86's CPU functions (a wasm export it keeps on the instance, or a method
// of its prototype) for the duration of one call: how restores skip work v86 does for the general
// case. v86 looks each of them up on the CPU object when it calls them.

type CpuFunctions = Record<string, unknown>;

/**
 * Runs `fn` with the CPU's function `name` replaced by `make(own)`; with no such function (another
 * v86), runs `fn` as it is.
 */
export async function standIn<F extends (...args: never[]) => unknown, T>(cpu: unknown, name: string, make: (own: F) => F, fn: () => Promise<T> | T): Promise<T> {
  const target = cpu as CpuFunctions | undefined;
  const own = target?.[name];
  if (!target || typeof own !== "function") return fn();
  const wasOwn = Object.hasOwn(target, name);
  target[name] = make((own as F).bind(target) as F);
  try {
    return await fn();
  } finally {
    if (wasOwn) target[name] = own;
    else delete target[name];
  }
}
