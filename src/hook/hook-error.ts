/**
 * What every hook does with an error of its own at run time: hand it to the
 * app's onError, or else emit one process warning (and no more), and never
 * let it, or a throwing onError, reach the application.
 */
export function reportHookError(err: unknown, onError: ((error: Error) => void) | undefined, warned: boolean): boolean {
  const error = err instanceof Error ? err : new Error(String(err));
  try {
    if (onError) onError(error);
    else if (!warned) {
      warned = true;
      process.emitWarning(`ws-close-agent hook error (further errors are not reported): ${error.message}`, { code: 'WS_CLOSE_AGENT_HOOK_ERROR' });
    }
  } catch {
    // A throwing error handler must not reach the application either.
  }
  return warned;
}
