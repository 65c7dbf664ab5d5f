/**
 * Importers: golden pairs (peer config -> expected sysmail.toml + expected
 * warnings), every golden output parsed with smol-toml and passed through
 * validateConfig, plus the edge cases: unknown keywords always warn with
 * their line, passwords never reach the TOML or the warnings, quoting,
 * inheritance rules, and the real file writing/reading shells.
 *
 * Set UPDATE_GOLDEN=1 to rewrite the expected files after a deliberate change
 * (then review the diff).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { fixtures, tempDir } from './helpers/paths.js';
import {
  formatWarnings, importEsmtprc, importFrom, importMsmtprc, importNullmailer, importSsmtp, readImportSource,
  writeImport, type ImportResult, type NullmailerFiles,
} from '../src/importers/index.js';
import { splitQuoted, splitShellWords } from '../src/importers/shell-words.js';
import { tomlKey, tomlString } from '../src/importers/toml.js';
import { formatSeconds } from '../src/importers/nullmailer.js';
import { validateConfig } from '../src/config/validate.js';
import { loadConfig } from '../src/config/load.js';
import { resolveSecret } from '../src/config/secrets.js';
import { EX, SysmailError } from '../src/core/errors.js';
import type { SmtpTransportConfig } from '../src/config/types.js';

const DIR = join(fixtures, 'importers');
const OPTS = { hostname: 'host.example.org' };
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const read = (name: string) => readFileSync(join(DIR, name), 'utf8');

function readNullmailerDir(dir: string): NullmailerFiles {
  const files: Record<string, string> = {};
  for (const n of readdirSync(dir)) files[n] = readFileSync(join(dir, n), 'utf8');
  return files as NullmailerFiles;
}

function validate(toml: string) {
  return validateConfig(parse(toml), '/etc/sysmail/sysmail.toml', toml, { env: {}, hostname: 'host.example.org', homedir: '/root' });
}

/** Every string anywhere in parsed TOML. */
function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === 'object') return Object.values(v).flatMap(strings);
  return [];
}

function assertNoSecretLeak(r: ImportResult): void {
  const leaves = strings(parse(r.toml));
  const warnings = formatWarnings(r.warnings);
  for (const s of r.secrets) {
    assert.ok(!r.toml.includes(tomlString(s.value)), `secret of ${s.transport} appears quoted in the TOML`);
    for (const leaf of leaves) {
      assert.notEqual(leaf, s.value, `secret of ${s.transport} is a TOML value`);
      if (s.value.length >= 8) assert.ok(!leaf.includes(s.value), `secret of ${s.transport} inside a TOML value`);
    }
    if (s.value.length >= 8) {
      assert.ok(!r.toml.includes(s.value), `secret of ${s.transport} appears in the TOML text`);
      assert.ok(!warnings.includes(s.value), `secret of ${s.transport} appears in a warning`);
    }
  }
}

interface Golden {
  name: string;
  run: () => ImportResult;
  /** transport -> password expected in its secret file */
  secrets: Record<string, string>;
}

const GOLDEN: Golden[] = [
  {
    name: 'esmtp-sample',
    run: () => importEsmtprc(read('esmtp-sample.esmtprc'), 'sample.esmtprc', OPTS),
    secrets: { smarthost: 'PASSWORD', 'myself-somewhere-com': 'secret' },
  },
  {
    name: 'esmtp-identities',
    run: () => importEsmtprc(read('esmtp-identities.esmtprc'), 'identities.esmtprc', OPTS),
    secrets: { smarthost: 'p4ss "with" quotes#and hash', 'alerts-example-com': 'tab\there', 'reports-example-org': 's3cret' },
  },
  {
    name: 'esmtp-mda',
    run: () => importEsmtprc(read('esmtp-mda.esmtprc'), 'mda.esmtprc', OPTS),
    secrets: { smarthost: 'hunter2' },
  },
  {
    name: 'msmtp-typical',
    run: () => importMsmtprc(read('msmtp-typical.msmtprc'), 'msmtprc', OPTS),
    secrets: { freemail: 'secret with spaces' },
  },
  {
    name: 'ssmtp',
    run: () => importSsmtp(read('ssmtp.conf'), read('ssmtp.revaliases'), { conf: 'ssmtp.conf', revaliases: 'revaliases' }, OPTS),
    secrets: { mailhub: 'Sup3r' },
  },
  {
    name: 'nullmailer-two-remotes',
    run: () => importNullmailer(readNullmailerDir(join(DIR, 'nullmailer-two-remotes')), { ...OPTS, dir: '/etc/nullmailer' }),
    secrets: { 'smtp-example-com': 'pa$$ word', 'relay-lan-example': 'lan"pass' },
  },
];

for (const g of GOLDEN) {
  test(`golden: ${g.name}`, () => {
    const r = g.run();
    const tomlFile = join(DIR, `${g.name}.toml`);
    const warnFile = join(DIR, `${g.name}.warnings.txt`);
    if (UPDATE) {
      writeFileSync(tomlFile, r.toml);
      writeFileSync(warnFile, formatWarnings(r.warnings));
    }
    assert.equal(r.toml, readFileSync(tomlFile, 'utf8'), `${g.name}.toml differs`);
    assert.equal(formatWarnings(r.warnings), readFileSync(warnFile, 'utf8'), `${g.name}.warnings.txt differs`);
    assert.deepEqual(Object.fromEntries(r.secrets.map((s) => [s.transport, s.value])), g.secrets);
    for (const s of r.secrets) assert.match(s.file, /^\/etc\/sysmail\/secrets\/[a-z0-9-]+\.pass$/);
    assertNoSecretLeak(r);
    // Deterministic: a second run is byte-identical.
    assert.equal(g.run().toml, r.toml);

    // It is a valid sysmail.toml, and each password_file names one of the secrets.
    const cfg = validate(r.toml);
    const files = new Set(r.secrets.map((s) => s.file));
    for (const t of Object.values(cfg.transports)) {
      if (t.type === 'smtp' && t.password?.file) assert.ok(files.has(t.password.file), `${t.name}: ${t.password.file} is not a written secret`);
    }
    assert.ok(cfg.routes.length > 0);
    assert.equal(cfg.routes[cfg.routes.length - 1]!.match, null, 'the last route is the catch-all');
  });
}

test('golden details: the esmtp sample carries each identity without inheritance', () => {
  const cfg = validate(importEsmtprc(read('esmtp-sample.esmtprc'), 'sample.esmtprc', OPTS).toml);
  const smart = cfg.transports.smarthost as SmtpTransportConfig;
  const me = cfg.transports['myself-somewhere-com'] as SmtpTransportConfig;
  assert.equal(smart.host, 'localhost');
  assert.equal(smart.port, 25);
  assert.equal(smart.username, 'USERNAME');
  assert.equal(me.host, 'smtp.somewhere.com');
  assert.equal(me.username, 'myself');
  assert.equal(me.security, 'none');
  assert.deepEqual(cfg.routes.map((r) => [r.name, r.match, r.transports]), [
    ['local-mda', { domain: ['host.example.org', 'localhost'] }, ['mda']],
    ['from-myself-somewhere-com', { sender: ['myself@somewhere.com'] }, ['myself-somewhere-com']],
    ['default', null, ['smarthost']],
  ]);
  const mda = cfg.transports.mda;
  assert.equal(mda?.type, 'command');
  if (mda?.type === 'command') assert.deepEqual(mda.argv, ['/usr/bin/procmail', '-d', '{local}']);
});

test('golden details: msmtp inheritance, twin accounts and the nullmailer fallback', () => {
  const m = validate(importMsmtprc(read('msmtp-typical.msmtprc'), 'msmtprc', OPTS).toml);
  const free = m.transports.freemail as SmtpTransportConfig;
  assert.equal(free.security, 'tls');
  assert.equal(free.port, 465);
  assert.equal(free.caFile, null, 'tls_trust_file was reset in the account');
  assert.equal(free.username, 'joe.smith');
  assert.deepEqual((m.transports.work as SmtpTransportConfig).password, {
    command: ['gpg', '--quiet', '--for-your-eyes-only', '--no-tty', '--decrypt', '/etc/msmtp/work.gpg'],
  });
  assert.equal(m.transports.default, undefined, '"account default : work" reuses the work transport');
  assert.deepEqual(m.routes.at(-1)!.transports, ['work']);
  assert.equal(m.general.aliases, '/etc/aliases');
  assert.equal(m.log.syslog, true);

  const n = validate(importNullmailer(readNullmailerDir(join(DIR, 'nullmailer-two-remotes')), OPTS).toml);
  assert.deepEqual(n.routes.map((r) => [r.transports, r.mode]), [[['smtp-example-com', 'relay-lan-example'], 'fallback']]);
  assert.equal(n.general.admin, 'admin@example.com');
  assert.equal(n.general.domain, 'web1.example.com');
  assert.equal(n.spool.retryMin, 120_000);
  assert.equal(n.spool.maxLifetime, 7 * 86_400_000);
});

test('unknown keywords are never dropped silently: each gets a warning with its line', () => {
  const e = importEsmtprc('hostname smtp.example.com\n\nfrobnicate = yes\nusername bob\n', 'rc');
  assert.deepEqual(e.warnings.filter((w) => w.message.includes('frobnicate')).map((w) => w.line), [3]);
  assert.match(e.toml, /username = "bob"/, 'parsing carries on after the unknown keyword');

  const m = importMsmtprc('account default\nhost h.example\nfrobnicate yes\n', 'rc');
  assert.deepEqual(m.warnings.filter((w) => w.message.includes('frobnicate')).map((w) => w.line), [3]);

  const s = importSsmtp('mailhub=h.example\nFrobnicate=yes\njunk line\n', null, { conf: 'c', revaliases: 'r' });
  assert.deepEqual(s.warnings.map((w) => w.line).sort(), [2, 3]);

  const n = importNullmailer({ remotes: 'h.example smtp --frobnicate=hunter22\n', other: { weird: '' } });
  const texts = formatWarnings(n.warnings);
  assert.match(texts, /remotes:1: unknown option "--frobnicate" \(value not shown\)/);
  assert.ok(!texts.includes('hunter22'), 'the value of an unknown option may be a password');
  assert.match(texts, /\/etc\/nullmailer\/weird: /);
});

test('passwords never appear in the TOML or the warnings, from any importer', () => {
  const pw = 'Zq9-UNIQUE-pw-&"\\';
  const results = [
    importEsmtprc(`hostname h.example:587\nusername u\npassword '${pw}'\n`, 'rc'),
    importMsmtprc(`account default\nhost h.example\nauth on\nuser u\npassword ${pw}\n`, 'rc'),
    importSsmtp('mailhub=h.example:587\nAuthUser=u\nAuthPass=Zq9-UNIQUE-pw-&"\\\n', null, { conf: 'c', revaliases: 'r' }),
    importNullmailer({ remotes: `h.example smtp --user=u '--pass=${pw}'\n` }),
  ];
  for (const r of results) {
    assert.equal(r.secrets.length, 1);
    assert.equal(r.secrets[0]!.value, pw);
    assert.ok(!r.toml.includes('Zq9-UNIQUE'), r.toml);
    assert.ok(!formatWarnings(r.warnings).includes('Zq9-UNIQUE'));
    assert.match(r.toml, /password_file = "\/etc\/sysmail\/secrets\/[a-z0-9-]+\.pass"/);
    assert.ok(r.warnings.some((w) => w.message.includes('password was moved to')), 'the move is reported');
  }
  // Stray words on a password line, or a key without "=", are not echoed either.
  const typo = importEsmtprc('hostname h.example\nusername u\npassword "Zq9-UNIQUE" "Zq9-TAIL" Zq9-WORD\n', 'rc');
  assert.equal(typo.warnings.filter((w) => w.line === 3 && /not shown/.test(w.message)).length, 2);
  assert.ok(!formatWarnings(typo.warnings).includes('Zq9'));
  const noEq = importSsmtp('mailhub=h\nAuthPass Zq9-UNIQUE\n', null, { conf: 'c', revaliases: 'r' });
  assert.ok(noEq.warnings.some((w) => w.line === 2 && /AuthPass/.test(w.message)));
  assert.ok(!formatWarnings(noEq.warnings).includes('Zq9'));
  // ssmtp cuts AuthPass at ":" and says so without printing it.
  const cut = importSsmtp('mailhub=h\nAuthUser=u\nAuthPass=Zq9:UNIQUE\n', null, { conf: 'c', revaliases: 'r' });
  assert.equal(cut.secrets[0]!.value, 'Zq9');
  assert.ok(!formatWarnings(cut.warnings).includes('UNIQUE'));
});

test('esmtprc quoting: quotes, C escapes, optional "=", values on the next line', () => {
  const r = importEsmtprc([
    'hostname "smtp.example.com:2525"',
    "username = 'it''s'", // two adjacent quoted strings: the second is a stray value
    'helo\n  "multi\\x41\\077\\67\\n"', // esmtp: \xHH hex, \0oo octal (3 digits with the 0), \ddd decimal
    'password "a#b \\"c"', // no escaped quotes in esmtp: the string ends at the second "
    'identity "x@example.com"',
    'hostname smtp.x.example:smtps',
    'username "unterminated',
    '',
  ].join('\n'), 'rc');
  const cfg = parse(r.toml) as { transports: Record<string, Record<string, unknown>> };
  assert.equal(cfg.transports.smarthost!.host, 'smtp.example.com');
  assert.equal(cfg.transports.smarthost!.port, 2525);
  assert.equal(cfg.transports.smarthost!.username, 'it');
  assert.equal(cfg.transports.smarthost!.helo, 'multiA?C\n');
  assert.equal(r.secrets[0]!.value, 'a#b \\');
  assert.equal(cfg.transports['x-example-com']!.port, 465);
  assert.equal(cfg.transports['x-example-com']!.username, 'unterminated');
  const w = formatWarnings(r.warnings);
  assert.match(w, /rc:2: a value "s" with no keyword/);
  assert.match(w, /rc:7: esmtp can only do STARTTLS/);
  assert.match(w, /rc:5: unknown keyword \(not shown: it may be part of a password\)/, 'esmtp has no escaped quote inside "..."');
  assert.match(w, /rc:8: unterminated double quote/);
});

test('esmtprc default identity: explicit "default", else the first with options, else the last', () => {
  const pick = (text: string) => {
    const cfg = validate(importEsmtprc(text, 'rc').toml);
    return cfg.routes.at(-1)!.transports[0];
  };
  assert.equal(pick('identity a@x.example\nhostname a.example\nidentity b@x.example\nhostname b.example\n'), 'a-x-example');
  assert.equal(pick('hostname g.example\nidentity a@x.example\nhostname a.example\ndefault\n'), 'a-x-example');
  assert.equal(pick('identity a@x.example\nidentity b@x.example\n'), 'b-x-example');
  // A repeated identity: esmtp uses the later block.
  const dup = importEsmtprc('hostname g.example\nidentity a@x.example\nhostname old.example\nidentity a@x.example\nhostname new.example\n', 'rc');
  assert.ok(!dup.toml.includes('old.example'));
  assert.ok(dup.toml.includes('new.example'));
  assert.ok(dup.warnings.some((w) => w.line === 2 && /defined again on line 4/.test(w.message)));
});

test('esmtprc commands: preconnect split or wrapped, mda placeholders never pasted into shell code, force_mda', () => {
  const r = importEsmtprc([
    'hostname h.example',
    'preconnect "ssh -f -L 2525:localhost:25 gw \'sleep 5\'"',
    'identity a@x.example',
    'preconnect "echo $HOME | logger"',
    'mda "/usr/bin/deliver -f %F %T >> /var/log/mda.log"',
    'force_mda',
    '',
  ].join('\n'), 'rc', OPTS);
  const cfg = validate(r.toml);
  assert.deepEqual((cfg.transports.smarthost as SmtpTransportConfig).preconnect, ['ssh', '-f', '-L', '2525:localhost:25', 'gw', 'sleep 5']);
  assert.deepEqual((cfg.transports['a-x-example'] as SmtpTransportConfig).preconnect, ['/bin/sh', '-c', 'echo $HOME | logger']);
  const mda = cfg.transports.mda!;
  assert.equal(mda.type, 'command');
  if (mda.type === 'command') {
    assert.deepEqual(mda.argv, ['/bin/sh', '-c', '/usr/bin/deliver -f "$2" "$1" >> /var/log/mda.log', 'sh', '{local}', '{from}']);
  }
  assert.deepEqual(cfg.routes.map((x) => [x.name, x.match, x.transports]), [['mda', null, ['mda']]]);
  assert.ok(r.warnings.some((w) => w.line === 4 && /\/bin\/sh -c/.test(w.message)));
  assert.ok(r.warnings.some((w) => w.line === 6 && /force_mda/.test(w.message)));

  const noHost = importEsmtprc('mda "/usr/bin/procmail -d %T"\n', 'rc');
  assert.match(noHost.toml, /domain = \["localhost"\]/);
  assert.ok(noHost.warnings.some((w) => w.line === 1 && /host's name is unknown/.test(w.message)));
});

test('msmtprc: defaults are copied when an account is created; parents add what they set', () => {
  const r = importMsmtprc([
    'defaults', // 1
    'port 2525', // 2
    'tls on', // 3
    'account a', // 4
    'host a.example', // 5
    'from a@example.com', // 6
    'defaults', // 7
    'port 26', // 8: reaches only accounts created after it
    'account b : a', // 9
    'from b@example.com', // 10
    'tls_certcheck off', // 11
    'tls_fingerprint 01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:12:13:14', // 12 (SHA-1)
    'defaults', // 13
    'timeout 30', // 14: after the last account
    '',
  ].join('\n'), 'rc');
  const cfg = validate(r.toml);
  const a = cfg.transports.a as SmtpTransportConfig;
  const b = cfg.transports.b as SmtpTransportConfig;
  assert.equal(a.port, 2525);
  assert.equal(b.port, 26, 'b was created after "port 26"; a passes on only what it set itself');
  assert.equal(b.host, 'a.example');
  assert.equal(b.tlsVerify, false);
  assert.equal(b.pinSha256, null);
  const w = formatWarnings(r.warnings);
  assert.match(w, /rc:11: certificate checks were off/);
  assert.match(w, /rc:12: tls_fingerprint is a SHA-1 fingerprint/);
  assert.match(w, /rc:14: "timeout" in a defaults section after the last account/);
  assert.match(w, /rc:4: there is no account named "default"/);
  assert.deepEqual(cfg.routes.map((x) => x.name), ['from-a', 'from-b', 'default']);
});

test('msmtprc: auth off drops credentials with a warning; passwordeval with shell syntax is wrapped', () => {
  const r = importMsmtprc([
    'account default', // 1
    'host h.example', // 2
    'user bob', // 3
    'password hunter2', // 4
    'account other', // 5
    'host o.example', // 6
    'auth scram-sha-256', // 7
    'user carol', // 8
    'passwordeval pass show mail/carol | head -n1', // 9
    'frobnicate', // 10
    '',
  ].join('\n'), 'rc');
  assert.equal(r.secrets.length, 0, 'msmtp never sent that password (auth not on)');
  const cfg = validate(r.toml);
  assert.equal((cfg.transports.default as SmtpTransportConfig).username, null);
  assert.deepEqual((cfg.transports.other as SmtpTransportConfig).password, { command: ['/bin/sh', '-c', 'pass show mail/carol | head -n1'] });
  const w = formatWarnings(r.warnings);
  assert.match(w, /rc:3: account "default": authentication is not on/);
  assert.match(w, /rc:4: account "default": authentication is not on/);
  assert.match(w, /rc:7: auth method "scram-sha-256" is not supported/);
  assert.match(w, /rc:9: passwordeval runs through \/bin\/sh -c/);
  assert.match(w, /rc:10: unknown msmtp command "frobnicate"/);
  assert.match(w, /rc:5: account "other" has no from address, so no route leads to transport "other"/);
});

test('ssmtp quirks: first AuthUser wins, "#" and ":" cut values, UseTLS without a port', () => {
  const r = importSsmtp([
    'Mailhub=smtp.example.com', // 1
    'UseTLS=YES', // 2
    'AuthUser=first', // 3
    'AuthUser=second', // 4
    'hostname=box#1', // 5
    'AuthPass=abc', // 6
    'AuthMethod=cram-md5', // 7
    '',
  ].join('\n'), 'alice:alice@example.net\n', { conf: 'c', revaliases: 'r' }, OPTS);
  const cfg = validate(r.toml);
  const hub = cfg.transports.mailhub as SmtpTransportConfig;
  assert.equal(hub.username, 'first');
  assert.equal(hub.port, 465);
  assert.equal(hub.security, 'tls');
  assert.equal(hub.authMethod, 'CRAM-MD5');
  assert.equal(cfg.general.hostname, 'box');
  assert.deepEqual(cfg.routes[0]!.match, { sender: ['alice@box'] });
  assert.equal((cfg.transports['alice-sender'] as SmtpTransportConfig).forceSender, 'alice@example.net');
  const w = formatWarnings(r.warnings);
  assert.match(w, /c:2: UseTLS=YES with no port/);
  assert.match(w, /c:4: AuthUser is set again; ssmtp keeps the first value/);
  assert.match(w, /c:5: ssmtp ignores everything after "#"/);

  const bare = importSsmtp('AuthUser=u\n', null, { conf: 'c', revaliases: 'r' });
  assert.match(bare.toml, /host = "mailhub"/);
  assert.ok(bare.warnings.some((w2) => /no Mailhub/.test(w2.message)));
  assert.ok(bare.warnings.some((w2) => w2.line === 1 && /AuthUser without AuthPass/.test(w2.message)));
});

test('nullmailer: one remote, qmqp skipped, --insecure kept with a warning, durations', () => {
  const r = importNullmailer({
    remotes: '# comment\nq.example qmqp\nmx.example smtp --insecure --starttls\n',
    defaulthost: 'mail.example.org\n',
    maxpause: '3600\nextra\n',
    sendtimeout: '60\n',
  }, { dir: '/etc/nm/' });
  const cfg = validate(r.toml);
  assert.deepEqual(cfg.routes.map((x) => x.transports), [['mx-example']]);
  const mx = cfg.transports['mx-example'] as SmtpTransportConfig;
  assert.equal(mx.tlsVerify, false);
  assert.equal(mx.port, 25);
  assert.equal(mx.security, 'starttls');
  assert.equal(cfg.general.domain, 'mail.example.org');
  assert.equal(cfg.spool.retryMax, 3_600_000);
  const w = formatWarnings(r.warnings);
  assert.match(w, /\/etc\/nm\/remotes:2: protocol "qmqp" is not supported/);
  assert.match(w, /\/etc\/nm\/remotes:3: --insecure/);
  assert.match(w, /\/etc\/nm\/maxpause:2: only the first line/);
  assert.match(w, /\/etc\/nm\/sendtimeout:1: sendtimeout is not carried over/);
  assert.deepEqual([60, 90, 3600, 86400, 604800, 5400].map(formatSeconds), ['1m', '90s', '1h', '1d', '7d', '90m']);
});

test('TOML writer escapes everything that could break out of a string', () => {
  const nasty = ['"', '\\', 'a\nb = "x"\n[evil]', '\t\r\b\f', '\u0000\u001f\u007f', 'é ☃ 𝄞', "'single'", '#not a comment'];
  for (const s of nasty) {
    const doc = `k = ${tomlString(s)}\n${tomlKey('weird key.with dot')} = 1\n`;
    const parsed = parse(doc) as Record<string, unknown>;
    assert.equal(parsed.k, s);
    assert.equal(parsed['weird key.with dot'], 1);
    assert.ok(!tomlString(s).includes('\n'));
  }
  assert.equal(tomlKey('plain_key-1'), 'plain_key-1');
});

test('shell-words: split when quoting explains it, refuse what needs a shell', () => {
  assert.deepEqual(splitShellWords(`a 'b c' "d \\"e\\" \\$f" g\\ h`).argv, ['a', 'b c', 'd "e" $f', 'g h']);
  assert.deepEqual(splitShellWords('x ""').argv, ['x', '']);
  for (const cmd of ['a | b', 'a; b', 'a && b', 'a > f', 'echo $HOME', 'echo `id`', 'ls *.pem', 'cat ~/.pw', 'FOO=1 cmd', 'a "b', "a 'b", '', '   ']) {
    const r = splitShellWords(cmd);
    assert.equal(r.argv, null, cmd);
    assert.ok(r.reason, cmd);
  }
  assert.deepEqual(splitQuoted(`h smtp --pass='a b$c' --user="x\\"y"`), ['h', 'smtp', '--pass=a b$c', '--user=x"y']);
  assert.equal(splitQuoted(`h 'open`), null);
});

test('writeImport: secrets 0600 in a 0700 dir, config 0644, refuses to overwrite, loads with loadConfig', async () => {
  const dir = tempDir('sysmail-import-');
  try {
    const r = importMsmtprc(read('msmtp-typical.msmtprc'), 'msmtprc', OPTS);
    const configPath = join(dir, 'etc', 'sysmail.toml');
    const secretsDir = join(dir, 'etc', 'secrets');
    const rep = await writeImport(r, { configPath, secretsDir });
    assert.deepEqual(rep.secretFiles, [join(secretsDir, 'freemail.pass')]);
    assert.equal(statSync(secretsDir).mode & 0o777, 0o700);
    assert.equal(statSync(rep.secretFiles[0]!).mode & 0o777, 0o600);
    assert.equal(statSync(configPath).mode & 0o777, 0o644);
    assert.equal(readFileSync(rep.secretFiles[0]!, 'utf8'), 'secret with spaces\n');
    const written = readFileSync(configPath, 'utf8');
    assert.ok(written.includes(tomlString(join(secretsDir, 'freemail.pass'))), 'the TOML points at the moved secret');
    assert.ok(!written.includes('/etc/sysmail/secrets/'));
    assert.ok(!readdirSync(join(dir, 'etc')).some((n) => n.includes('.tmp-')), 'no temporary files left');

    // The written config loads, and its password resolves to the original.
    const cfg = await loadConfig({ path: configPath, env: {} });
    const free = cfg.transports.freemail as SmtpTransportConfig;
    assert.equal(await resolveSecret(free.password!), 'secret with spaces');

    // A second write is refused, and nothing is touched.
    writeFileSync(rep.secretFiles[0]!, 'changed\n', { mode: 0o600 });
    await assert.rejects(writeImport(r, { configPath, secretsDir }), (e: unknown) => {
      assert.ok(e instanceof SysmailError);
      assert.equal(e.exit, EX.CANTCREAT);
      assert.match(e.message, /already exists/);
      assert.match(e.hint ?? '', /--force/);
      return true;
    });
    assert.equal(readFileSync(rep.secretFiles[0]!, 'utf8'), 'changed\n');

    // Only a config in the way also stops the secrets from being written.
    rmSync(rep.secretFiles[0]!);
    await assert.rejects(writeImport(r, { configPath, secretsDir }), SysmailError);
    assert.equal(existsSync(rep.secretFiles[0]!), false);

    // --force replaces both.
    await writeImport(r, { configPath, secretsDir, force: true });
    assert.equal(readFileSync(rep.secretFiles[0]!, 'utf8'), 'secret with spaces\n');
    assert.equal(readFileSync(configPath, 'utf8'), written);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readImportSource: given paths, sibling revaliases, nullmailer directories, clear EX_NOINPUT', async () => {
  const dir = tempDir('sysmail-import-src-');
  try {
    const rc = join(dir, 'esmtprc');
    writeFileSync(rc, 'hostname h.example\n');
    const src = await readImportSource('esmtprc', rc);
    assert.deepEqual(src, { kind: 'esmtprc', file: rc, text: 'hostname h.example\n' });

    const r = await importFrom('esmtprc', rc, { hostname: 'box.example' });
    assert.match(r.toml, /host = "h.example"/);

    mkdirSync(join(dir, 'ssmtp'));
    writeFileSync(join(dir, 'ssmtp', 'ssmtp.conf'), 'mailhub=h.example\n');
    const s1 = await readImportSource('ssmtp', join(dir, 'ssmtp', 'ssmtp.conf'));
    assert.equal(s1.kind === 'ssmtp' && s1.revaliases, null);
    writeFileSync(join(dir, 'ssmtp', 'revaliases'), 'root:r@example.com\n');
    const s2 = await readImportSource('ssmtp', join(dir, 'ssmtp', 'ssmtp.conf'));
    assert.equal(s2.kind === 'ssmtp' && s2.revaliases, 'root:r@example.com\n');

    const nm = join(dir, 'nullmailer');
    mkdirSync(nm);
    writeFileSync(join(nm, 'remotes'), 'h.example smtp\n');
    writeFileSync(join(nm, 'adminaddr'), 'a@example.com\n');
    writeFileSync(join(nm, 'custom'), 'x\n');
    const s3 = await readImportSource('nullmailer', join(nm, 'remotes'));
    assert.equal(s3.kind, 'nullmailer');
    if (s3.kind === 'nullmailer') {
      assert.equal(s3.dir, nm);
      assert.deepEqual(Object.keys(s3.files).sort(), ['adminaddr', 'other', 'remotes']);
      assert.deepEqual(Object.keys(s3.files.other ?? {}), ['custom']);
    }
    const r3 = await importFrom('nullmailer', nm);
    assert.ok(r3.warnings.some((w) => w.file === join(nm, 'custom')));

    for (const [kind, path] of [['esmtprc', join(dir, 'nope')], ['ssmtp', join(dir, 'nope.conf')], ['nullmailer', join(dir, 'nodir')]] as const) {
      await assert.rejects(readImportSource(kind, path), (e: unknown) => {
        assert.ok(e instanceof SysmailError);
        assert.equal(e.exit, EX.NOINPUT);
        assert.ok(e.message.includes(path), e.message);
        assert.ok(e.hint, 'says how to fix it');
        return true;
      });
    }
    await assert.rejects(readImportSource('esmtprc', dir), /not a regular file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('esmtp "force sender" with a display name: the address becomes force_sender, the name is a warning', () => {
  const r = importEsmtprc('hostname smtp.example.com:587\nstarttls required\nforce sender = "Joe <joe@example.com>"\n', 'esmtprc', OPTS);
  const t = validate(r.toml).transports.smarthost as SmtpTransportConfig;
  assert.equal(t.forceSender, 'joe@example.com');
  assert.ok(r.warnings.some((w) => w.line === 3 && /display name "Joe"/.test(w.message)), JSON.stringify(r.warnings));
});

test('esmtp qualifydomain only qualifies: its domain is not made local (mail for it goes to the relay)', () => {
  const r = importEsmtprc('hostname smtp.example.com:587\nstarttls required\nqualifydomain example.com\n', 'esmtprc', OPTS);
  const cfg = validate(r.toml);
  assert.equal(cfg.general.domain, 'example.com');
  assert.deepEqual(cfg.general.localDomains, ['host.example.org', 'localhost']);
});

test('esmtp qualifydomain with an mda: bare names keep going to the MDA, with {local} as %T was', () => {
  const r = importEsmtprc('hostname smtp.example.com:587\nstarttls required\nqualifydomain example.com\nmda "/usr/bin/procmail -d %T"\n', 'esmtprc', OPTS);
  const cfg = validate(r.toml);
  assert.equal(cfg.general.domain, 'host.example.org', 'bare "root" -> root@host.example.org, which the local-mda route takes');
  assert.deepEqual(cfg.routes[0]!.match, { domain: ['host.example.org', 'localhost'] });
  assert.ok(r.warnings.some((w) => w.line === 3 && /bare names keep reaching the MDA/.test(w.message)));
});

test('esmtp identity at the qualify domain: the import says that local users\' mail without -f takes it too', () => {
  const r = importEsmtprc('hostname smtp.example.com:587\nstarttls required\nqualifydomain example.com\n\nidentity root@example.com\n\thostname other.example.com:587\n\tstarttls required\n', 'esmtprc', OPTS);
  assert.ok(r.warnings.some((w) => w.line === 5 && /mail that root sends without -f also has that sender/.test(w.message)), JSON.stringify(r.warnings));
});
