/**
 * Routing as a table: the first route whose every criterion matches wins;
 * domains exact or "*.suffix"; local parts and senders case-insensitive;
 * "" / "<>" match only the null sender; "@domain" matches a sender's domain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLocalRecipient, routeMatches, selectRoute, splitAt } from '../src/router/router.js';
import type { RouteConfig, RouteMatch } from '../src/config/types.js';

const route = (name: string, match: RouteMatch | null): RouteConfig =>
  ({ name, match, transports: [name], mode: 'fallback', fallbackAfter: 0 });

const routes: RouteConfig[] = [
  route('bounces', { sender: ['<>'] }),
  route('ops-pager', { domain: ['pager.example.com'], local: ['oncall'] }),
  route('internal', { domain: ['*.corp.example'] }),
  route('from-backup', { sender: ['@backup.example.com'] }),
  route('exact-sender', { sender: ['cron@web1.example.com'] }),
  route('default', null),
];

test('selectRoute: first match wins, each criterion must hold', () => {
  const table: Array<[string, string, string]> = [
    // recipient, sender, expected route
    ['ops@example.com', '', 'bounces'],
    ['oncall@pager.example.com', 'root@web1', 'ops-pager'],
    ['ONCALL@Pager.Example.COM', 'root@web1', 'ops-pager'],
    ['someone@pager.example.com', 'root@web1', 'default'],      // local part must match too
    ['a@mail.corp.example', 'root@web1', 'internal'],
    ['a@deep.mail.corp.example', 'root@web1', 'internal'],
    ['a@corp.example', 'root@web1', 'default'],                 // "*.x" needs a subdomain
    ['a@notcorp.example', 'root@web1', 'default'],
    ['a@example.org', 'nightly@backup.example.com', 'from-backup'],
    ['a@example.org', 'nightly@BACKUP.example.com', 'from-backup'],
    ['a@example.org', 'nightly@sub.backup.example.com', 'default'], // "@domain" is that domain only
    ['a@example.org', 'cron@web1.example.com', 'exact-sender'],
    ['a@example.org', 'cron@web2.example.com', 'default'],
    ['oncall@pager.example.com', '', 'bounces'],                 // order decides
  ];
  for (const [rcpt, sender, expected] of table) {
    assert.equal(selectRoute(rcpt, sender, routes)?.name, expected, `${rcpt} from <${sender}>`);
  }
});

test('selectRoute: no route matches → null (the runner keeps the message, never drops it)', () => {
  assert.equal(selectRoute('a@example.org', 'x@y', [route('only-pager', { domain: ['pager.example.com'] })]), null);
  assert.equal(selectRoute('a@example.org', 'x@y', []), null);
});

test('routeMatches: an empty-string sender pattern is the null sender, like "<>"', () => {
  assert.equal(routeMatches({ sender: [''] }, 'a@b', ''), true);
  assert.equal(routeMatches({ sender: [''] }, 'a@b', 'x@y'), false);
  assert.equal(routeMatches(null, 'a@b', 'x@y'), true);
});

test('splitAt and isLocalRecipient: the last @ separates the domain; bare names are local', () => {
  assert.deepEqual(splitAt('"a@b"@example.com'), { local: '"a@b"', domain: 'example.com' });
  assert.deepEqual(splitAt('root'), { local: 'root', domain: '' });
  const table: Array<[string, boolean]> = [
    ['root', true],
    ['root@web1.example.com', true],
    ['root@WEB1.example.com', true],
    ['root@localhost', true],
    ['root@example.com', false],
  ];
  for (const [rcpt, expected] of table) {
    assert.equal(isLocalRecipient(rcpt, ['web1.example.com', 'localhost']), expected, rcpt);
  }
});
