// Waiting in tests for something that happens asynchronously: poll a condition until it holds, or fail
// naming what did not happen. Each test file picks its default deadline and polling interval once.

export type Until = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs?: number) => Promise<void>;

export function poller(defaults: { readonly timeoutMs: number; readonly pollMs: number }): Until {
  return async (what, condition, timeoutMs = defaults.timeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, defaults.pollMs));
    }
  };
}
