/**
 * Timeouts and limits of `sysmail serve` and `sendmail -bs`, each named with
 * its unit (STYLE.md rule 8). They belong with src/config/defaults.ts; they
 * live here until the lead moves them.
 */

/** An SMTP client that sends nothing for this long is told 421 and dropped (RFC 5321 §4.5.3.2 asks for 5 min). */
export const LISTENER_IDLE_TIMEOUT_MS = 5 * 60_000;
/** On shutdown, open sessions get this long to finish before they are told 421. */
export const LISTENER_CLOSE_TIMEOUT_MS = 10_000;
/** Simultaneous SMTP sessions; more get 421 (a loopback listener never needs many). */
export const LISTENER_MAX_CLIENTS = 100;
/** Recipients per message; more get 452 (the client sends the rest in another transaction). */
export const LISTENER_MAX_RECIPIENTS = 1000;

/** File events in queue/ and drop/ arrive in bursts (create, write, rename): one pass per burst. */
export const QUEUE_WATCH_DEBOUNCE_MS = 2;
/** The queue is looked at at least this often, so a missed event or a clock jump is recovered. */
export const QUEUE_MAX_SLEEP_MS = 5 * 60_000;
/** A message still due after a pass (another process holds it) is looked at again after this long, not at once. */
export const QUEUE_BUSY_RETRY_MS = 1_000;
/** On SIGTERM the running delivery pass gets this long to finish; its claims are recovered on the next start otherwise. */
export const SHUTDOWN_PASS_TIMEOUT_MS = 30_000;
/** Sessions one client (a local uid, or a remote address) may hold at once; more get 421. */
export const LISTENER_MAX_PER_CLIENT = 10;
/** Sessions only root may take, so a local user holding every other slot cannot lock root's cron mail out. */
export const LISTENER_ROOT_RESERVED = 10;
/** A failed AUTH is answered after this delay times the failures from that client (up to the cap): no password guessing at speed. */
export const AUTH_FAILURE_DELAY_MS = 1_000;
export const AUTH_FAILURE_DELAY_MAX_MS = 10_000;
/**
 * Outgoing connections (SMTP to the relay) stay open this long after a pass, so the next pass
 * reuses them instead of connecting, greeting and EHLO again (Postfix's scache keeps 2 s; a few
 * seconds covers a cron job's or a script's burst without holding a relay's slot for long).
 */
export const TRANSPORT_KEEP_IDLE_MS = 5_000;
/** A kept connection is closed at the end of the first pass after this age, as Postfix's smtp_connection_reuse_time_limit. */
export const TRANSPORT_KEEP_MAX_AGE_MS = 300_000;
/** Bytes of just-accepted messages serve keeps in memory for their first delivery (read back from the spool beyond that). */
export const ACCEPTED_KEEP_BYTES = 8 * 1024 * 1024;
