// Remote write retry policy, pure: which responses to retry and how long to wait.

/** What to do with a response status (remote write 1.0: retry 5xx and 429, never other 4xx). */
export function outcomeOf(status: number): 'sent' | 'retry' | 'reject' {
  if (status >= 200 && status < 300) return 'sent';
  return status === 429 || status >= 500 ? 'retry' : 'reject';
}

/**
 * Delay before retry number `attempt` (0 for the first): exponential from `minMs`, capped
 * at `maxMs`, with jitter in the upper half so a fleet that failed together spreads out.
 */
export function backoffMs(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, minMs * 2 ** attempt);
  return cap / 2 + (random() * cap) / 2;
}

/** An HTTP-date starts with the day's name (IMF-fixdate, RFC 850 and asctime alike). */
const HTTP_DATE = /^[A-Za-z]{3}/;

/**
 * A Retry-After header as a delay in ms: delay-seconds or an HTTP-date (past dates mean
 * now). Undefined when absent or unparseable, so the caller falls back to its backoff.
 */
export function parseRetryAfter(header: string | null | undefined, nowMs: number): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  if (!HTTP_DATE.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
