/** Waiting in tests for something that happens asynchronously. */

/**
 * Polls `cond` every `pollMs` until it returns true, or throws naming `what` after `timeoutMs`.
 * An exception from `cond` ends the wait with that exception.
 */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
  pollMs = 10,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
