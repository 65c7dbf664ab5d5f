/**
 * The SELinux policy module (packaging/selinux/) against Debian's reference
 * policy, without SELinux enabled on the machine:
 * 1. it compiles with the reference policy's module Makefile (selinux-policy-dev);
 * 2. the reference policy already has the transitions sysmail relies on
 *    (cron -> system_mail_t, logwatch -> logwatch_mail_t, systemd -> sendmail_t
 *    through sendmail_exec_t), checked with sesearch on the shipped policy;
 * 3. installed into a copy of the policy store (semodule -p, never the
 *    machine's own), the rebuilt policy holds the module's rules, and its
 *    file_contexts label every path in src/system/layout.ts as intended
 *    (matchpathcon -f reads a file_contexts file; no SELinux kernel needed).
 * Needs: apt-get install checkpolicy setools selinux-policy-default
 * selinux-policy-dev semodule-utils policycoreutils selinux-utils (make, m4).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, tempDir } from './helpers/paths.js';
import { LOG_DIR, SPOOL_DIR, WRAPPERS } from '../src/system/layout.js';

const PACKAGES = 'checkpolicy setools selinux-policy-default selinux-policy-dev semodule-utils policycoreutils selinux-utils';
const MAKEFILE = '/usr/share/selinux/devel/Makefile';
const STORE = '/var/lib/selinux/default';

function sh(cmd: string, args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 60_000, maxBuffer: 16 * 1024 * 1024, env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin`, LC_ALL: 'C' } },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) || 1 : 0, stdout, stderr }));
  });
}

const dir = tempDir('sysmail-selinux-');
after(() => rmSync(dir, { recursive: true, force: true }));
let basePolicy = '';
let newPolicy = '';
let newContexts = '';

before(async () => {
  const missing: string[] = [];
  for (const tool of ['checkmodule', 'semodule_package', 'semodule', 'sesearch', 'matchpathcon', 'make', 'm4']) {
    if ((await sh('sh', ['-c', `command -v ${tool}`])).code !== 0) missing.push(tool);
  }
  if (!existsSync(MAKEFILE)) missing.push(MAKEFILE);
  if (!existsSync(STORE)) missing.push(STORE);
  const policies = existsSync('/etc/selinux/default/policy') ? readdirSync('/etc/selinux/default/policy').filter((f) => /^policy\.\d+$/.test(f)) : [];
  if (policies.length === 0) missing.push('/etc/selinux/default/policy/policy.N');
  assert.deepEqual(missing, [], `SELinux test tools are missing: ${missing.join(', ')}; install them with: apt-get install ${PACKAGES}`);
  basePolicy = join('/etc/selinux/default/policy', policies.sort().at(-1)!);
});

test('the module compiles with the reference policy Makefile', async () => {
  const src = join(dir, 'src');
  mkdirSync(src);
  for (const f of ['sysmail.te', 'sysmail.fc', 'sysmail.if']) copyFileSync(join(repoRoot, 'packaging', 'selinux', f), join(src, f));
  const r = await sh('make', ['-f', MAKEFILE, 'sysmail.pp'], src);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(existsSync(join(src, 'sysmail.pp')));
});

test('the reference policy has the transitions sysmail relies on', async () => {
  const r = await sh('sesearch', ['-T', '-t', 'sendmail_exec_t', '-c', 'process', basePolicy]);
  assert.equal(r.code, 0, r.stderr);
  for (const rule of [
    'type_transition system_cronjob_t sendmail_exec_t:process system_mail_t;',
    'type_transition crond_t sendmail_exec_t:process system_mail_t;',
    'type_transition logwatch_t sendmail_exec_t:process logwatch_mail_t;',
    'type_transition init_t sendmail_exec_t:process sendmail_t;',
    // Why the admin's own `sysmail` (install, doctor) is not labelled sendmail_exec_t: it would run confined.
    'type_transition unconfined_t sendmail_exec_t:process user_mail_t;',
  ]) assert.ok(r.stdout.split('\n').includes(rule), `missing: ${rule}`);
});

/** allow rules of `source` (attributes expanded by sesearch) that grant any of these permissions. */
async function allowRules(policy: string, source: string): Promise<string[]> {
  const r = await sh('sesearch', ['-A', '-s', source, '-c', 'process,file,dir', '-p', 'execmem,read,create,append,watch,execute,entrypoint', policy]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

/** Does one of the rules allow `perm` on `cls` of `target` (or of one of `aliases`, the attributes it is in)? */
function grants(rules: string[], targets: string[], cls: string, perm: string): boolean {
  return rules.some((line) => {
    const m = /^allow \S+ (\S+):(\S+) (?:\{([^}]*)\}|(\S+));/.exec(line);
    return m !== null && targets.includes(m[1]!) && m[2] === cls && (m[3] ?? m[4]!).trim().split(/\s+/).includes(perm);
  });
}

test('installed into a copy of the store, the policy has the module rules and labels the layout paths', async () => {
  const src = join(dir, 'src');
  if (!existsSync(join(src, 'sysmail.pp'))) {
    mkdirSync(src, { recursive: true });
    for (const f of ['sysmail.te', 'sysmail.fc', 'sysmail.if']) copyFileSync(join(repoRoot, 'packaging', 'selinux', f), join(src, f));
    assert.equal((await sh('make', ['-f', MAKEFILE, 'sysmail.pp'], src)).code, 0);
  }
  const root = join(dir, 'root');
  cpSync('/var/lib/selinux', join(root, 'var', 'lib', 'selinux'), { recursive: true });
  cpSync('/etc/selinux', join(root, 'etc', 'selinux'), { recursive: true });
  // Home directory contexts are not under test, and building them from /etc/passwd takes seconds.
  appendFileSync(join(root, 'etc', 'selinux', 'semanage.conf'), '\nusepasswd=false\ndisable-genhomedircon=true\n');
  const inst = await sh('semodule', ['-p', root, '-s', 'default', '-n', '-i', join(src, 'sysmail.pp')]);
  assert.equal(inst.code, 0, inst.stderr);
  const pol = readdirSync(join(root, 'etc/selinux/default/policy')).filter((f) => /^policy\.\d+$/.test(f)).sort().at(-1)!;
  newPolicy = join(root, 'etc/selinux/default/policy', pol);
  newContexts = join(root, 'etc/selinux/default/contexts/files/file_contexts');

  // One sesearch per domain and policy: each loads the whole policy, which takes about a second.
  const [baseMail, newMail, baseDaemon, newDaemon] = await Promise.all([
    allowRules(basePolicy, 'system_mail_t'), allowRules(newPolicy, 'system_mail_t'),
    allowRules(basePolicy, 'sendmail_t'), allowRules(newPolicy, 'sendmail_t'),
  ]);
  // Rules the module adds: absent from the reference policy, present after it.
  assert.equal(grants(baseMail, ['sendmail_t'], 'file', 'read'), false, 'the reference policy already lets system_mail_t read /proc of sendmail_t');
  assert.equal(grants(newMail, ['sendmail_t'], 'file', 'read'), true, 'is a claim\'s owner (serve) alive? /proc/<pid>/stat');
  assert.equal(grants(baseDaemon, ['mqueue_spool_t'], 'dir', 'watch'), false, 'the reference policy already lets sendmail_t watch the queue');
  assert.equal(grants(newDaemon, ['mqueue_spool_t'], 'dir', 'watch'), true, 'serve\'s inotify on queue/ and drop/');
  assert.equal(grants(baseMail, ['mqueue_spool_t'], 'dir', 'create'), false);
  assert.equal(grants(newMail, ['mqueue_spool_t'], 'dir', 'create'), true, 'the spool layout, made by the first writer');
  // What a Node.js program needs, present with the module.
  assert.ok(grants(newMail, ['system_mail_t', 'user_mail_domain'], 'process', 'execmem'), 'V8\'s JIT, for cron\'s sendmail');
  assert.ok(grants(newDaemon, ['sendmail_t'], 'process', 'execmem'), 'V8\'s JIT, for serve');
  assert.ok(grants(newMail, ['bin_t'], 'file', 'execute'), 'the wrapper runs node (bin_t)');
  assert.ok(grants(newMail, ['sendmail_exec_t'], 'file', 'entrypoint'));
  assert.ok(grants(newMail, ['sendmail_log_t'], 'file', 'append'), 'the event log');

  const label = async (fc: string, path: string) => {
    const r = await sh('matchpathcon', ['-f', fc, path]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split(/\s+/)[1]!.split(':')[2]!;
  };
  for (const w of Object.values(WRAPPERS)) assert.equal(await label(newContexts, w.path), 'sendmail_exec_t', w.path);
  for (const p of [SPOOL_DIR, `${SPOOL_DIR}/queue/0123`, `${SPOOL_DIR}/drop/x`, `${SPOOL_DIR}/Maildir/new/1`]) assert.equal(await label(newContexts, p), 'mqueue_spool_t', p);
  for (const p of [LOG_DIR, `${LOG_DIR}/sysmail.log`]) assert.equal(await label(newContexts, p), 'sendmail_log_t', p);
  assert.notEqual(await label(newContexts, '/usr/local/lib/node_modules/sysmail/dist/sysmail.js'), 'sendmail_exec_t');
  // The labels come from the module: the reference policy alone labels these generically.
  const baseFc = '/etc/selinux/default/contexts/files/file_contexts';
  assert.equal(await label(baseFc, SPOOL_DIR), 'var_spool_t');
  assert.equal(await label(baseFc, WRAPPERS.daemon.path), 'bin_t');
});
