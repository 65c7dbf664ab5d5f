import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EX, SysmailError } from '../src/core/errors.js';
import { parseSendmailArgs, type SendmailArgs } from '../src/cli/sendmail-args.js';
import { prepareMessage } from '../src/message/prepare.js';

function usage(argv: string[], re: RegExp, invokedAs?: string): void {
  assert.throws(() => parseSendmailArgs(argv, { invokedAs }), (e: unknown) => {
    assert.ok(e instanceof SysmailError, String(e));
    assert.equal(e.exit, EX.USAGE);
    assert.match(e.message, re);
    return true;
  }, JSON.stringify(argv));
}

function pick(a: SendmailArgs, keys: (keyof SendmailArgs)[]): Partial<SendmailArgs> {
  return Object.fromEntries(keys.filter((k) => a[k] !== undefined).map((k) => [k, a[k]]));
}

const CORE: (keyof SendmailArgs)[] = ['mode', 'extractRecipients', 'ignoreDots', 'sender', 'fullName', 'recipients', 'deliveryMode'];

describe('parseSendmailArgs: what real callers pass', () => {
  const cases: [string, string[], Partial<SendmailArgs>][] = [
    ['Debian cron', ['-i', '-FCronDaemon', '-B8BITMIME', '-oem', 'user'],
      { mode: 'deliver', extractRecipients: false, ignoreDots: true, sender: null, fullName: 'CronDaemon', recipients: ['user'], deliveryMode: 'background' }],
    ['cronie', ['-FCronDaemon', '-i', '-odi', '-oem', '-oi', '-t', '-f', 'root'],
      { mode: 'deliver', extractRecipients: true, ignoreDots: true, sender: 'root', fullName: 'CronDaemon', recipients: [], deliveryMode: 'interactive' }],
    ['Vixie cron', ['-FCronDaemon', '-odi', '-oem', '-oi', '-t'],
      { mode: 'deliver', extractRecipients: true, ignoreDots: true, sender: null, fullName: 'CronDaemon', recipients: [], deliveryMode: 'interactive' }],
    ['busybox crond', ['-t', '-oem', '-i'],
      { mode: 'deliver', extractRecipients: true, ignoreDots: true, sender: null, fullName: null, recipients: [], deliveryMode: 'background' }],
    ['logwatch', ['-t'],
      { mode: 'deliver', extractRecipients: true, ignoreDots: false, sender: null, fullName: null, recipients: [], deliveryMode: 'background' }],
    ['mdadm / unattended-upgrades', ['-oi', '-t'],
      { mode: 'deliver', extractRecipients: true, ignoreDots: true, sender: null, fullName: null, recipients: [], deliveryMode: 'background' }],
    ['s-nail', ['-i', '-f', 'me@example.org', '--', 'rcpt1@example.org', 'rcpt2'],
      { mode: 'deliver', extractRecipients: false, ignoreDots: true, sender: 'me@example.org', fullName: null, recipients: ['rcpt1@example.org', 'rcpt2'], deliveryMode: 'background' }],
    ['mailx', ['-i', '--', 'root'],
      { mode: 'deliver', extractRecipients: false, ignoreDots: true, sender: null, fullName: null, recipients: ['root'], deliveryMode: 'background' }],
    ['smartd', ['root'],
      { mode: 'deliver', extractRecipients: false, ignoreDots: false, sender: null, fullName: null, recipients: ['root'], deliveryMode: 'background' }],
    ['git send-email', ['-i', 'dev@example.org', 'list@example.org'],
      { mode: 'deliver', extractRecipients: false, ignoreDots: true, sender: null, fullName: null, recipients: ['dev@example.org', 'list@example.org'], deliveryMode: 'background' }],
    ['symfony / swiftmailer', ['-bs'],
      { mode: 'smtp', extractRecipients: false, ignoreDots: false, sender: null, fullName: null, recipients: [], deliveryMode: 'background' }],
    ['bounce with null sender', ['-t', '-f', '<>'],
      { mode: 'deliver', extractRecipients: true, ignoreDots: false, sender: '', fullName: null, recipients: [], deliveryMode: 'background' }],
  ];
  for (const [who, argv, want] of cases) {
    it(`${who}: ${argv.join(' ')}`, () => assert.deepEqual(pick(parseSendmailArgs(argv), CORE), want));
  }
  it('Debian cron: -B8BITMIME and -oem are recorded', () => {
    const a = parseSendmailArgs(['-i', '-FCronDaemon', '-B8BITMIME', '-oem', 'user']);
    assert.equal(a.body, '8BITMIME');
    assert.deepEqual(a.ignored, ['-oem']);
    assert.deepEqual(a.warnings, []);
  });
});

describe('parseSendmailArgs: flags', () => {
  it('takes -f/-r/-F values attached or separate', () => {
    assert.equal(parseSendmailArgs(['-froot']).sender, 'root');
    assert.equal(parseSendmailArgs(['-f', 'a@b']).sender, 'a@b');
    assert.equal(parseSendmailArgs(['-r', 'a@b']).sender, 'a@b');
    assert.equal(parseSendmailArgs(['-ra@b']).sender, 'a@b');
    for (const n of ['', '<>', '""', ' <> ']) assert.equal(parseSendmailArgs(['-f', n]).sender, '', JSON.stringify(n));
    assert.equal(parseSendmailArgs(['-f<>']).sender, '');
    assert.equal(parseSendmailArgs(['-F', 'Full Name']).fullName, 'Full Name');
    assert.equal(parseSendmailArgs(['-FFull']).fullName, 'Full');
  });

  it('knows the modes', () => {
    const mode = (argv: string[], invokedAs?: string) => parseSendmailArgs(argv, { invokedAs }).mode;
    assert.equal(mode([]), 'deliver');
    assert.equal(mode(['-bm']), 'deliver');
    assert.equal(mode(['-bp']), 'list');
    assert.equal(mode(['-bs']), 'smtp');
    assert.equal(mode(['-bi']), 'newaliases');
    assert.equal(mode(['-I']), 'newaliases');
    assert.equal(mode(['-bd']), 'daemon');
    assert.equal(mode(['-bD']), 'daemon');
    assert.equal(mode(['-b', 'p']), 'list');
    assert.equal(mode([], '/usr/bin/mailq'), 'list');
    assert.equal(mode([], 'newaliases'), 'newaliases');
    assert.equal(mode(['-bm'], 'mailq'), 'deliver');
    for (const b of ['-bv', '-bt', '-ba', '-bh', '-bH', '-bP']) usage([b], /not supported/);
    usage(['-bz'], /unknown mode/);
  });

  it('handles -q in all its forms', () => {
    assert.deepEqual(pick(parseSendmailArgs(['-q']), ['mode', 'queueInterval']), { mode: 'flush' });
    assert.deepEqual(pick(parseSendmailArgs(['-q30m']), ['mode', 'queueInterval']), { mode: 'flush', queueInterval: '30m' });
    assert.deepEqual(pick(parseSendmailArgs(['-q1h30m', '-v']), ['mode', 'queueInterval', 'verbose']), { mode: 'flush', queueInterval: '1h30m', verbose: true });
    assert.deepEqual(pick(parseSendmailArgs(['-qIabc123']), ['mode', 'queueId']), { mode: 'flush', queueId: 'abc123' });
    assert.deepEqual(pick(parseSendmailArgs(['-qRexample.com']), ['mode', 'queueSite']), { mode: 'flush', queueSite: 'example.com' });
    assert.deepEqual(pick(parseSendmailArgs(['-bd', '-q30m']), ['mode', 'queueInterval']), { mode: 'daemon', queueInterval: '30m' });
    assert.deepEqual(pick(parseSendmailArgs(['-vq']), ['mode', 'verbose']), { mode: 'flush', verbose: true });
    usage(['-qI'], /needs a queue ID/);
    usage(['-qR'], /needs a site/);
    usage(['-qS'], /not supported/);
    usage(['-q3x'], /not a queue interval/);
    usage(['-q', 'root'], /recipients are not allowed/);
    usage(['-bp', '-q'], /cannot be combined/);
  });

  it('maps -o options and ignores unknown ones', () => {
    const a = parseSendmailArgs(['-oi', '-odq', '-oem', '-oA/etc/aliases', '-o7', '-om', '-oQ/var/spool', '-oL9']);
    assert.equal(a.ignoreDots, true);
    assert.equal(a.deliveryMode, 'queue');
    assert.equal(a.aliasFile, '/etc/aliases');
    assert.deepEqual(a.ignored, ['-oem', '-o7', '-om', '-oQ/var/spool', '-oL9']);
    assert.equal(parseSendmailArgs(['-oA', '/tmp/aliases']).aliasFile, '/tmp/aliases');
    assert.equal(parseSendmailArgs(['-o', 'i']).ignoreDots, true);
    assert.equal(parseSendmailArgs(['-oi', '-oiFalse']).ignoreDots, false);
    assert.equal(parseSendmailArgs(['-odb']).deliveryMode, 'background');
    assert.equal(parseSendmailArgs(['-odi']).deliveryMode, 'interactive');
    assert.equal(parseSendmailArgs(['-odd']).deliveryMode, 'queue');
    assert.match(parseSendmailArgs(['-odx']).warnings[0]!, /unknown delivery mode/);
    // A value-less -o option never swallows the recipient after it.
    assert.deepEqual(parseSendmailArgs(['-oi', 'root']).recipients, ['root']);
    usage(['-oA'], /needs a value/);
    usage(['-o'], /needs a value/);
  });

  it('maps -O long options', () => {
    const a = parseSendmailArgs(['-O', 'DeliveryMode=q', '-OIgnoreDots=true', '-O', 'ErrorMode=m']);
    assert.equal(a.deliveryMode, 'queue');
    assert.equal(a.ignoreDots, true);
    assert.deepEqual(a.ignored, ['-OErrorMode=m']);
  });

  it('maps the DSN flags, warning on bad values like Postfix', () => {
    const a = parseSendmailArgs(['-N', 'success,failure', '-R', 'hdrs', '-V', 'env-1', '-B', '7BIT']);
    assert.deepEqual(pick(a, ['notify', 'ret', 'envid', 'body']), { notify: 'SUCCESS,FAILURE', ret: 'hdrs', envid: 'env-1', body: '7BIT' });
    assert.equal(parseSendmailArgs(['-Nnever']).notify, 'NEVER');
    assert.equal(parseSendmailArgs(['-N', 'Delay, delay']).notify, 'DELAY');
    assert.equal(parseSendmailArgs(['-RFULL']).ret, 'full');
    const bad = parseSendmailArgs(['-N', 'never,success', '-R', 'all', '-V', 'has space']);
    assert.equal(bad.notify, undefined);
    assert.equal(bad.ret, undefined);
    assert.equal(bad.envid, undefined);
    assert.equal(bad.warnings.length, 3);
    assert.equal(parseSendmailArgs(['-V', 'x'.repeat(101)]).envid, undefined);
    usage(['-B', 'BINARYMIME'], /7BIT or 8BITMIME/);
  });

  it('accepts and ignores the legacy flags', () => {
    const a = parseSendmailArgs(['-v', '-C', '/etc/sysmail/test.toml', '-L', 'cron', '-G', '-h', '17', '-U', '-n', '-m',
      '-Ac', '-Am', '-X', '/tmp/trace', '-d', '0.1', '-p', 'smtp:host', '-Mrsmtp', '-x', '-c', '-e', 'm', 'root']);
    assert.equal(a.verbose, true);
    assert.equal(a.configFile, '/etc/sysmail/test.toml');
    assert.equal(a.logTag, 'cron');
    assert.deepEqual(a.recipients, ['root']);
    assert.deepEqual(a.ignored, ['-G', '-h17', '-U', '-n', '-m', '-Ac', '-Am', '-X/tmp/trace', '-d0.1', '-psmtp:host', '-Mrsmtp', '-x', '-c', '-em']);
  });

  it('allows getopt-style clusters', () => {
    assert.deepEqual(pick(parseSendmailArgs(['-ti']), CORE), pick(parseSendmailArgs(['-t', '-i']), CORE));
    const a = parseSendmailArgs(['-itfroot@example.com']);
    assert.deepEqual(pick(a, ['extractRecipients', 'ignoreDots', 'sender']), { extractRecipients: true, ignoreDots: true, sender: 'root@example.com' });
    const b = parseSendmailArgs(['-tif', 'root', 'x@y']);
    assert.deepEqual(pick(b, ['sender', 'recipients']), { sender: 'root', recipients: ['x@y'] });
    usage(['-tZ'], /unknown option -Z \(in -tZ\)/);
  });

  it('refuses unknown flags and missing values', () => {
    usage(['-Z'], /unknown option -Z/);
    usage(['--help'], /unknown option --/);
    usage(['-f'], /option -f needs a value/);
    usage(['-i', '-F'], /option -F needs a value/);
    usage(['-C'], /needs a value/);
  });

  it('ends options at -- and at the first recipient', () => {
    assert.deepEqual(parseSendmailArgs(['--']).recipients, []);
    assert.deepEqual(parseSendmailArgs(['-i', '--', '-oQ/tmp', 'b']).recipients, ['-oQ/tmp', 'b']);
    assert.deepEqual(parseSendmailArgs(['-f', '--', 'a']).sender, '--');
    usage(['root', '-t'], /option -t comes after the recipient "root"/);
    usage(['-i', 'root', '-oQ/tmp'], /put the options first/);
  });

  it('`-- -oQ` ends as a clear usage error from the address parser, never as an option', () => {
    const a = parseSendmailArgs(['-i', '--', '-oQ/tmp/evil']);
    assert.equal(a.ignoreDots, true);
    assert.deepEqual(a.ignored, []);
    assert.throws(() => prepareMessage({
      raw: Buffer.from('Subject: x\n\n'), sender: a.sender, recipients: a.recipients, extractRecipients: a.extractRecipients,
      user: 'root', hostname: 'h', domain: 'example.com', now: new Date(0), tagHost: false,
    }), (e: unknown) => e instanceof SysmailError && e.exit === EX.USAGE && e.code === 'EADDRESS' && /"-oQ\/tmp\/evil": it starts with '-'/.test(e.message));
  });

  it('checks that the mode and the rest agree', () => {
    usage(['-bp', 'root'], /recipients are not allowed in this mode \(list\)/);
    usage(['-bs', 'root'], /not allowed/);
    usage(['-bi', '-t'], /-t can be used only when sending/);
    usage(['-t', '-bs'], /-t can be used only/);
  });
});
