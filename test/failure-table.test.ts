/**
 * The one failure model (core/sysexits.ts, core/outcome.ts, core/codes.ts), table by table:
 * Postfix's sys_exits.c rows, a real command exiting with each status, every thrown failure
 * a transport can meet mapped to its outcome, the listener's reply for each, and error codes
 * that no errno or nodemailer name can be mistaken for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandTransportConfig, Config } from '../src/config/types.js';
import { memoryLogger } from '../src/log/logger.js';
import { createCommandTransport } from '../src/transports/command.js';
import { resultFromError } from '../src/transports/mailbox.js';
import { dsnForExit, EX, isTemporary, SYS_EXITS, sysExit } from '../src/core/sysexits.js';
import { configError, dataError, ioError, SysmailError, tempError, toSysmailError, usageError } from '../src/core/errors.js';
import { failureResult, smtpReplyFor } from '../src/core/outcome.js';
import { ERROR_CODES } from '../src/core/codes.js';
import { repoRoot } from './helpers/paths.js';

/** Postfix 3.x src/global/sys_exits.c, as the issue quotes it: status, DSN, soft. */
const POSTFIX: Array<[number, string, string, boolean]> = [
  [64, 'EX_USAGE', '5.3.0', false], [65, 'EX_DATAERR', '5.6.0', false], [66, 'EX_NOINPUT', '5.3.0', false],
  [67, 'EX_NOUSER', '5.1.1', false], [68, 'EX_NOHOST', '5.1.2', false], [69, 'EX_UNAVAILABLE', '5.3.0', false],
  [70, 'EX_SOFTWARE', '5.3.0', false], [71, 'EX_OSERR', '4.3.0', true], [72, 'EX_OSFILE', '5.3.0', false],
  [73, 'EX_CANTCREAT', '5.2.0', false], [74, 'EX_IOERR', '5.3.0', false], [75, 'EX_TEMPFAIL', '4.3.0', true],
  [76, 'EX_PROTOCOL', '5.5.0', false], [77, 'EX_NOPERM', '5.7.0', false], [78, 'EX_CONFIG', '5.3.5', false],
];

test('sysexits: every row as Postfix has it, and statuses outside the table are hard 5.3.0', () => {
  assert.equal(Object.keys(SYS_EXITS).length, POSTFIX.length);
  for (const [status, name, dsn, soft] of POSTFIX) {
    assert.deepEqual([sysExit(status)?.name, dsnForExit(status), isTemporary(status)], [name, dsn, soft], `status ${status}`);
    // A soft status's DSN is 4.x.x and a hard one's 5.x.x: the flag and the status never disagree.
    assert.equal(dsn.startsWith('4'), soft, `status ${status}`);
  }
  for (const status of [0, 1, 2, 63, 79, 126, 127, 255]) {
    assert.deepEqual([sysExit(status), dsnForExit(status), isTemporary(status)], [undefined, '5.3.0', false], `status ${status}`);
  }
  assert.equal(sysExit(Number('toString')), undefined);
});

test('command transport: a real program exiting with each status gets the table\'s outcome and DSN', async () => {
  const cfg: CommandTransportConfig = { name: 'hook', type: 'command', argv: [], stdin: 'none', timeout: 10_000,
    user: process.getuid?.() === 0 ? 'root' : null };
  const ctx = { config: { general: { hostname: 'host.example' } } as unknown as Config, log: memoryLogger(), now: () => Date.now() };
  const msg = { id: 'Q1', envelope: { sender: 'cron@host.example', recipients: [], submittedAt: 0, uid: 0, user: 'root', via: 'sendmail' as const }, raw: Buffer.from('Subject: x\n\nx\n') };
  const rows: Array<[number, string, string, string]> = [
    [0, 'sent', '2.0.0', 'exited 0'],
    ...POSTFIX.map(([s, name, dsn, soft]): [number, string, string, string] => [s, soft ? 'deferred' : 'failed', dsn, `exited ${s} (${name})`]),
    [1, 'failed', '5.3.0', 'exited 1'], [127, 'failed', '5.3.0', 'exited 127'],
  ];
  for (const [status, outcome, dsn, text] of rows) {
    const t = createCommandTransport({ ...cfg, argv: ['/bin/sh', '-c', `exit ${status}`] }, ctx);
    const [r] = await t.deliver(msg, ['root@host.example']);
    assert.deepEqual([r.outcome, r.dsn, r.code], [outcome, dsn, status], `exit ${status}`);
    assert.ok(r.text.endsWith(text), `${status}: ${r.text}`);
  }
});

const errno = (code: string) => Object.assign(new Error(`${code}: something`), { code });

test('failureResult: only a SysmailError that says it is permanent fails; the DSN agrees with the outcome', () => {
  const permanent = new SysmailError('EADDRESS', 'bad address', { exit: EX.DATAERR, dsn: '5.1.3', smtpCode: 553, hint: 'fix it' });
  const rows: Array<[string, unknown, Parameters<typeof failureResult>[1], ReturnType<typeof failureResult>]> = [
    ['permanent, carried code', permanent, {}, { outcome: 'failed', code: 553, dsn: '5.1.3', text: 'bad address (fix it)' }],
    ['permanent but deferOnly', permanent, { deferOnly: true, codes: 'none' }, { outcome: 'deferred', dsn: '4.3.0', text: 'bad address (fix it)' }],
    ['permanent without code, mta', new SysmailError('EMBOX', 'no', { exit: EX.CANTCREAT }), { codes: 'mta' }, { outcome: 'failed', code: 550, dsn: '5.3.0', text: 'no' }],
    ['ioError', ioError('cannot write', errno('ENOSPC')), { codes: 'mta' },
      { outcome: 'deferred', code: 451, dsn: '4.3.0', text: 'cannot write: ENOSPC: something (the file system is full: free space, then run `sysmail flush`)' }],
    ['tempError with its own DSN, no code', tempError('ESMTP_PIN', 'pin', undefined, 'h', { dsn: '4.7.5' }), {}, { outcome: 'deferred', dsn: '4.7.5', text: 'pin (h)' }],
    ['a raw errno error', errno('EACCES'), { codes: 'mta' }, { outcome: 'deferred', code: 451, dsn: '4.3.0', text: 'EACCES: something' }],
    ['a bug', new TypeError('x is undefined'), {}, { outcome: 'deferred', dsn: '4.3.0', text: 'x is undefined' }],
    ['a thrown string', 'oops', { codes: 'none' }, { outcome: 'deferred', dsn: '4.3.0', text: 'oops' }],
    ['prefix, no hint', ioError('w', errno('EROFS')), { deferOnly: true, codes: 'none', hint: false, prefix: 'command x: ' },
      { outcome: 'deferred', dsn: '4.3.0', text: 'command x: w: EROFS: something' }],
    // A temporary error must never carry a 5.x.x into a delay notice, nor a permanent one 4.x.x into a bounce.
    ['temporary with a 5.x.x DSN', new SysmailError('ESMTP_REPLY', 'r', { exit: EX.TEMPFAIL, dsn: '5.7.1' }), { codes: 'none' }, { outcome: 'deferred', dsn: '4.3.0', text: 'r' }],
    ['config error', configError('bad key'), {}, { outcome: 'failed', dsn: '5.3.0', text: 'bad key' }],
  ];
  for (const [what, err, opts, want] of rows) assert.deepEqual(failureResult(err, opts), want, what);
  // The mailbox transports' entry point is the same function, per recipient.
  assert.deepEqual(resultFromError('a@b', permanent), { rcpt: 'a@b', outcome: 'failed', code: 553, dsn: '5.1.3', text: 'bad address (fix it)' });
});

test('smtpReplyFor: 451 for local trouble, 5xx only when the message itself is refused', () => {
  const rows: Array<[string, unknown, number, string]> = [
    ['data error', dataError('ENUL', 'NUL in the message'), 554, '5.6.0 NUL in the message'],
    ['permanent with its own reply', new SysmailError('ETOOBIG', 'too big', { exit: EX.DATAERR, smtpCode: 552, dsn: '5.3.4' }), 552, '5.3.4 too big'],
    ['permanent 5xx without a DSN', new SysmailError('ENORCPT', 'none', { exit: EX.USAGE, smtpCode: 554 }), 554, '5.6.0 none'],
    ['usage error (no reply of its own)', usageError('bad flag'), 451, '4.3.0 Message not queued: bad flag'],
    ['full disk', ioError('cannot queue the message', errno('ENOSPC')), 451, '4.3.0 Message not queued: cannot queue the message: ENOSPC: something'],
    ['temporary with a 5xx code', new SysmailError('ELOCKED', 'x', { exit: EX.TEMPFAIL, smtpCode: 550 }), 451, '4.3.0 Message not queued: x'],
    ['a bug, control characters removed', new Error('line\r\nbreak'), 451, '4.3.0 Message not queued: line break'],
    ['a thrown string', 'oops', 451, '4.3.0 Message not queued: oops'],
  ];
  for (const [what, err, code, text] of rows) assert.deepEqual(smtpReplyFor(err), { code, text }, what);
});

test('toSysmailError: a bug exits 70 (EX_SOFTWARE) yet never bounces mail nor refuses it for good', () => {
  const e = toSysmailError(new RangeError('boom'));
  assert.deepEqual([e.code, e.exit, e.temporary], ['EINTERNAL', EX.SOFTWARE, true]);
  assert.equal(failureResult(new RangeError('boom')).outcome, 'deferred');
  assert.equal(smtpReplyFor(new RangeError('boom')).code, 451);
  const known = usageError('x');
  assert.equal(toSysmailError(known), known);
});

test('SysmailError: `temporary` defaults to the sysexits table\'s flag', () => {
  for (const [status, , , soft] of POSTFIX) {
    assert.equal(new SysmailError('EINSTALL', 'x', { exit: status as 64 }).temporary, soft, `exit ${status}`);
  }
  assert.equal(new SysmailError('EINSTALL', 'x', { exit: EX.TEMPFAIL, temporary: false }).temporary, false);
});

/** Every quoted E-code in nodemailer's and smtp-server's shipped code. */
function libraryCodes(): Set<string> {
  const codes = new Set<string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(c|m)?js$/.test(name)) for (const m of readFileSync(p, 'utf8').matchAll(/['"](E[A-Z_]{2,})['"]/g)) codes.add(m[1]);
    }
  };
  for (const lib of ['nodemailer', 'smtp-server']) walk(join(repoRoot, 'node_modules', lib));
  return codes;
}

test('error codes: unique, stable-looking, and never an errno or nodemailer name', () => {
  assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
  for (const c of ERROR_CODES) assert.match(c, /^E[A-Z][A-Z_]*$/);
  const lib = libraryCodes();
  assert.ok(lib.has('EENVELOPE') && lib.has('EAUTH'), 'the scan finds nodemailer\'s codes');
  const clashes = ERROR_CODES.filter((c) => c in constants.errno || lib.has(c));
  assert.deepEqual(clashes, []);
});
