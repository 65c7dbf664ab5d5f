/**
 * `sysmail doctor [--json] [--root DIR] [--offline]` and `sysmail test [RCPT]`.
 * Thin: the checks live in src/doctor/. Exit status: doctor 0 when nothing
 * failed, 78 (EX_CONFIG) when the config or a secret is wrong, else 69
 * (EX_UNAVAILABLE); test 0 delivered, 75 deferred, 69 failed.
 */
import { resolve } from 'node:path';
import { parseOptions } from './options.js';

const HELP_DOCTOR = `sysmail doctor [-C FILE] [--json] [--offline] [--root DIR]

Checks this host and says why mail would not arrive, with the fix for each
problem: the config and its secrets, the spool and log directories, free space,
which program /usr/sbin/sendmail really is, SELinux, each transport (SMTP:
connect, EHLO, STARTTLS with certificate checks, AUTH, QUIT, no mail sent; OCI:
a signed request and the clock), and the queue. Reads only; changes nothing.

    --json      print [{ "check", "status": "ok|fail|warn|info", "detail", "fix" }]
    --offline   do not probe the transports over the network
    --root DIR  inspect a staged tree (links, os-release) instead of /

Exit status: 0 nothing failed (warnings allowed); 78 a config or secret
problem; 69 anything else failed.
`;

const HELP_TEST = `sysmail test [-C FILE] [RCPT]

Sends a test message to RCPT (default: general.admin) through the configured
route, delivering it in the foreground, and prints each step. Needs root.
Exit status: 0 delivered; 75 deferred (it stays queued); 69 failed.
`;

export async function doctorCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, { json: {}, root: { value: true }, offline: {} }, 'doctor');
  if (opts.help) { process.stdout.write(HELP_DOCTOR); return 0; }
  if (args.length > 0) {
    const { usageError } = await import('../core/errors.js');
    throw usageError(`doctor takes no arguments (got "${args[0]}")`, 'sysmail doctor [--json]');
  }
  if (typeof opts.spool === 'string') process.env.SYSMAIL_SPOOL = opts.spool;
  // Readers never write: the launcher leaves a missing or rejected code cache as it found it.
  const cache = (globalThis as { __sysmail_codeCache?: { write: boolean } }).__sysmail_codeCache;
  if (cache) cache.write = false;
  const [{ runDoctor }, report] = await Promise.all([import('../doctor/run.js'), import('../doctor/report.js')]);
  const { results, configSource } = await runDoctor({
    config: typeof opts.config === 'string' ? opts.config : null,
    root: typeof opts.root === 'string' ? resolve(opts.root) : '/',
    offline: opts.offline === true,
  });
  process.stdout.write(opts.json ? report.toJson(results)
    : report.formatReport(results, `sysmail doctor (config: ${configSource ?? 'none loaded'})`));
  return report.exitCodeFor(results);
}

export async function testCommand(argv: string[]): Promise<number> {
  const { opts, args } = parseOptions(argv, {}, 'test');
  if (opts.help) { process.stdout.write(HELP_TEST); return 0; }
  const { runTestSend } = await import('../doctor/test-send.js');
  return runTestSend(opts, args, (s) => process.stdout.write(s));
}
