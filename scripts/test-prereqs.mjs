// `npm test` runs this first: the suites need root and the Debian packages that .ci/run installs
// (Postfix, faketime, python3-dnf, the SELinux toolchain, …). Rather than let 17 tests fail one
// by one, say once what is missing and the one command that installs it and runs everything.
// The package list is read from .ci/run, the one place it is kept (each package with its reason).
//
// Exit 0: all there. Exit 69 (EX_UNAVAILABLE) with the list otherwise.
// SYSMAIL_TEST_PREREQS=warn: print the list and go on (the tests that need them then fail; none
// is skipped).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const ciRun = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
const block = /^packages=\(([^)]*)\)/m.exec(ciRun);
if (!block) { console.error('scripts/test-prereqs.mjs: no packages=( … ) list in .ci/run'); process.exit(70); }
const packages = block[1].split(/\s+/).filter(Boolean);

const problems = [];
if (process.geteuid?.() !== 0) {
  problems.push('not root: the tests that need it fail (never skip): security (commands as nobody, chown), Postfix interop '
    + '(master starts as root), command and local transports (run as nobody, mailbox ownership), the package checks');
}
const q = spawnSync('dpkg-query', ['-W', '-f', '${Package} ${db:Status-Status}\\n', ...packages], { encoding: 'utf8' });
let missing = [];
if (q.error) {
  problems.push(`no dpkg-query: this is not Debian/Ubuntu, so the test dependencies cannot be checked; install the equivalents of: ${packages.join(' ')}`);
} else {
  const installed = new Set(q.stdout.split('\n').filter((l) => / installed$/.test(l)).map((l) => l.split(' ')[0]));
  missing = packages.filter((p) => !installed.has(p));
  if (missing.length) problems.push(`Debian packages not installed: ${missing.join(' ')}`);
}

if (problems.length === 0) process.exit(0);
const warn = process.env.SYSMAIL_TEST_PREREQS === 'warn';
console.error(`npm test: ${warn ? 'going on although' : 'stopped before running anything:'} the test suites need what is missing here:`);
for (const p of problems) console.error(`  - ${p}`);
// Root needs no sudo (a minimal Debian has none); anyone else does.
const asRoot = process.getuid?.() === 0 ? '' : 'sudo ';
console.error(`
One command installs what is missing (Debian 12, as root) and runs everything — the suites,
the packages and their checks — as CI does:

    ${asRoot}npm run test:all
${missing.length ? `
(only the packages: ${asRoot}apt-get install --no-install-recommends ${missing.join(' ')})` : ''}${warn ? '' : `
To run anyway and see which tests fail without them: SYSMAIL_TEST_PREREQS=warn npm test`}
`);
process.exit(warn ? 0 : 69);
