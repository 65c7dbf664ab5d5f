import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expandRecipient, loadAliases, parseAliases, type AliasTarget } from '../src/router/aliases.js';
import { isSysmailError } from '../src/core/errors.js';
import { tempDir } from './helpers/paths.js';

const LOCAL = { localDomains: ['host.example', 'localhost'] };
/** addresses and notes only (via is checked by the admin-rule tests). */
const an = (r: { addresses: string[]; notes: string[] }) => ({ addresses: r.addresses, notes: r.notes });

function mapOf(text: string) {
  const { map, warnings } = parseAliases(text, '/etc/aliases');
  return { map, warnings };
}

test('parse: comments, blank lines, continuations, quotes and case', () => {
  const { map, warnings } = mapOf([
    '# system aliases',
    '',
    'Postmaster: root',
    'root: alice,',
    '  bob@example.org,',
    '\t# a comment inside a continued entry',
    '\t"carol"',
    'list: "a, b"@example.org, dave',
    '   ',
  ].join('\n'));
  assert.deepEqual(warnings, []);
  assert.deepEqual(map.get('postmaster'), [{ kind: 'address', address: 'root', literal: false }]);
  assert.deepEqual(map.get('root')?.map((t) => (t as { address: string }).address), ['alice', 'bob@example.org', 'carol']);
  assert.deepEqual(map.get('list')?.map((t) => (t as { address: string }).address), ['"a, b"@example.org', 'dave']);
  assert.equal(map.has('Postmaster'), false, 'names are stored lower-case');
});

test('parse: commands, files and includes are kept as typed targets and warned about', () => {
  const { map, warnings } = mapOf([
    'prog: "|/usr/bin/logger -t mail, x", admin',
    'save: /var/log/mail.copy',
    'team: :include:/etc/mail/team.list',
  ].join('\n'));
  const kinds = (n: string) => map.get(n)?.map((t: AliasTarget) => t.kind);
  assert.deepEqual(kinds('prog'), ['command', 'address']);
  assert.deepEqual(map.get('prog')?.[0], { kind: 'command', value: '|/usr/bin/logger -t mail, x' });
  assert.deepEqual(kinds('save'), ['file']);
  assert.deepEqual(kinds('team'), ['include']);
  assert.deepEqual(warnings.map((w) => w.line), [1, 2, 3]);
  assert.match(warnings[0].message, /command.*"command" transport/);
  assert.match(warnings[2].message, /:include:/);
});

test('parse: bad lines, duplicates, empty targets and binary files are warnings, not errors', () => {
  const { map, warnings } = mapOf([
    '  orphan continuation',
    'no colon here',
    'root: admin',
    'ROOT: other',
    'empty:',
    'bad name: x',
    'sp: "has space"x y, ok',
  ].join('\n'));
  assert.deepEqual(map.get('root'), [{ kind: 'address', address: 'admin', literal: false }], 'first definition wins');
  assert.equal(map.has('empty'), false);
  assert.deepEqual(map.get('sp')?.map((t) => (t as { address: string }).address), ['ok']);
  const lines = warnings.map((w) => w.line);
  assert.deepEqual(lines, [1, 2, 4, 5, 6, 7]);
  assert.match(warnings[2].message, /duplicate alias "root" \(first defined on line 3\)/);

  const bin = parseAliases('root\0\0\x01admin', '/etc/aliases.db');
  assert.equal(bin.map.size, 0);
  assert.match(bin.warnings[0].message, /\/etc\/aliases\.db is binary/);
});

test('expand: local names recurse, non-local recipients are untouched, case-insensitive', () => {
  const { map } = mapOf('root: admin\nadmin: Alice, ops@example.org\n');
  assert.deepEqual(an(expandRecipient('ROOT@Host.Example', map, LOCAL)), { addresses: ['Alice@Host.Example', 'ops@example.org'], notes: [] });
  assert.deepEqual(expandRecipient('root', map, LOCAL).addresses, ['Alice', 'ops@example.org']);
  assert.deepEqual(expandRecipient('root', map, { ...LOCAL, domain: 'host.example' }).addresses, ['Alice@host.example', 'ops@example.org']);
  assert.deepEqual(an(expandRecipient('root@elsewhere.org', map, LOCAL)), { addresses: ['root@elsewhere.org'], notes: [] });
  assert.deepEqual(an(expandRecipient('nobody@localhost', map, LOCAL)), { addresses: ['nobody@localhost'], notes: [] });
});

test('expand: a name aliased to itself keeps its local mailbox; \\name is not expanded further', () => {
  const { map } = mapOf('root: root, admin@x.org\nadmin: \\admin, root\n');
  assert.deepEqual(an(expandRecipient('root@localhost', map, LOCAL)), { addresses: ['root@localhost', 'admin@x.org'], notes: [] });
  // admin -> \admin (literal) and root -> root (self) + admin@x.org
  assert.deepEqual(expandRecipient('admin@localhost', map, LOCAL).addresses, ['admin@localhost', 'root@localhost', 'admin@x.org']);
});

test('expand: loops are broken where they close, with a note; duplicates removed', () => {
  const { map } = mapOf('a: b\nb: c, A\nc: a, b\n');
  const r = expandRecipient('a@localhost', map, LOCAL);
  assert.deepEqual(r.addresses, ['a@localhost', 'b@localhost']);
  assert.ok(r.notes.some((n) => /alias loop a -> b -> c -> a/.test(n)), r.notes.join('\n'));
  assert.ok(r.notes.every((n) => n.includes('delivering to')));
});

test('expand: depth limit stops runaway chains', () => {
  const lines = Array.from({ length: 30 }, (_, i) => `n${i}: n${i + 1}`).join('\n');
  const { map } = mapOf(lines);
  const r = expandRecipient('n0', map, { ...LOCAL, maxDepth: 5 });
  assert.deepEqual(r.addresses, ['n5']);
  assert.match(r.notes[0], /deeper than 5 at "n5"/);
  assert.deepEqual(expandRecipient('n0', map, LOCAL).addresses, ['n20']);
});

test('expand: commands, files and includes are skipped, never run; nothing is dropped', () => {
  const dir = tempDir();
  try {
    const marker = join(dir, 'ran');
    const { map } = mapOf(`prog: "|/bin/touch ${marker}", ops@x.org\nonly: "|/bin/touch ${marker}"\ninc: :include:${join(dir, 'list')}\nfile: ${join(dir, 'copy')}\n`);
    writeFileSync(join(dir, 'list'), 'evil@attacker.example\n');
    const p = expandRecipient('prog@localhost', map, LOCAL);
    assert.deepEqual(p.addresses, ['ops@x.org']);
    assert.match(p.notes[0], /skipped "\|\/bin\/touch [^"]*", which is a command/);
    const o = expandRecipient('only@localhost', map, LOCAL);
    assert.deepEqual(o.addresses, ['only@localhost'], 'an alias with nothing deliverable keeps the recipient');
    assert.equal(o.notes.length, 2);
    const i = expandRecipient('inc', map, LOCAL);
    assert.deepEqual(i.addresses, ['inc'], 'included file is not read');
    assert.deepEqual(expandRecipient('file', map, LOCAL).addresses, ['file']);
    assert.throws(() => statSync(marker), /ENOENT/);
    assert.throws(() => statSync(join(dir, 'copy')), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadAliases: parses the file, caches by mtime/size, errors are temporary', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'aliases');
    writeFileSync(path, 'root: admin\n');
    const a = await loadAliases(path);
    assert.deepEqual(a.map.get('root'), [{ kind: 'address', address: 'admin', literal: false }]);
    assert.equal(await loadAliases(path), a, 'unchanged file comes from the cache');
    writeFileSync(path, 'root: ops\n');
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    const b = await loadAliases(path);
    assert.notEqual(b, a);
    assert.deepEqual(b.map.get('root'), [{ kind: 'address', address: 'ops', literal: false }]);

    await assert.rejects(loadAliases(join(dir, 'missing')), (e: unknown) =>
      isSysmailError(e) && e.temporary && /cannot read the aliases file .*missing/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The admin rule (issue 13): system accounts without an aliases entry go to general.admin.
const USERS = new Map([
  ['root', { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' }],
  ['www-data', { name: 'www-data', uid: 33, gid: 33, home: '/var/www', shell: '/usr/sbin/nologin' }],
  ['nobody', { name: 'nobody', uid: 65534, gid: 65534, home: '/', shell: '/usr/sbin/nologin' }],
  ['alice', { name: 'alice', uid: 1000, gid: 1000, home: '/home/alice', shell: '/bin/bash' }],
]);

test('admin rule: root, daemons and role names go to the admin; users and remote addresses do not', async () => {
  const { adminRule } = await import('../src/router/admin.js');
  const admin = adminRule({ admin: 'ops@example.com', domain: 'host.example' }, USERS);
  const ex = (a: string, text = '') => expandRecipient(a, mapOf(text).map, { ...LOCAL, domain: 'host.example', admin });
  for (const a of ['root', 'root@host.example', 'ROOT@localhost', 'www-data@host.example', 'nobody', 'postmaster', 'abuse', 'MAILER-DAEMON@localhost']) {
    const r = ex(a);
    assert.deepEqual(r.addresses, ['ops@example.com'], a);
    assert.equal(r.via.get('ops@example.com'), 'admin', a);
  }
  assert.deepEqual(ex('alice@host.example').addresses, ['alice@host.example'], 'a user (uid >= 1000) keeps their mail');
  assert.deepEqual(ex('ghost@host.example').addresses, ['ghost@host.example'], 'an unknown name is not guessed to be a daemon');
  assert.deepEqual(ex('root@example.org').addresses, ['root@example.org'], 'a remote root is not ours');
});

test('admin rule: /etc/aliases wins; a self alias or \\root keeps root; daemons aliased to root reach the admin', async () => {
  const { adminRule } = await import('../src/router/admin.js');
  const admin = adminRule({ admin: 'ops@example.com', domain: 'host.example' }, USERS);
  const ex = (a: string, text: string) => expandRecipient(a, mapOf(text).map, { ...LOCAL, domain: 'host.example', admin });
  const own = ex('root@host.example', 'root: alice@example.org');
  assert.deepEqual(own.addresses, ['alice@example.org']);
  assert.equal(own.via.get('alice@example.org'), 'alias');
  assert.deepEqual(ex('root', 'root: root, bob@example.org').addresses, ['root@host.example', 'bob@example.org'], 'self alias keeps a local copy');
  assert.deepEqual(ex('root', 'root: \\root').addresses, ['root@host.example']);
  const daemon = ex('www-data', 'www-data: root');
  assert.deepEqual(daemon.addresses, ['ops@example.com']);
  assert.equal(daemon.via.get('ops@example.com'), 'admin');
});

test('admin rule: the default admin "root" ends the rule (no loop); daemons then reach root', async () => {
  const { adminRule } = await import('../src/router/admin.js');
  const admin = adminRule({ admin: 'root', domain: 'host.example' }, USERS);
  const ex = (a: string) => expandRecipient(a, new Map(), { ...LOCAL, domain: 'host.example', admin });
  assert.deepEqual(ex('root').addresses, ['root']);
  assert.deepEqual(ex('www-data@host.example').addresses, ['root@host.example']);
  // Without a passwd file only root and the role names count.
  const blind = adminRule({ admin: 'ops@example.com', domain: 'host.example' }, null);
  assert.deepEqual(expandRecipient('www-data', new Map(), { ...LOCAL, admin: blind }).addresses, ['www-data']);
  assert.deepEqual(expandRecipient('postmaster', new Map(), { ...LOCAL, admin: blind }).addresses, ['ops@example.com']);
});
