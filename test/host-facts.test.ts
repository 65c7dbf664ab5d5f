/**
 * system/host-facts.ts answers as node:os does, without loading it where a file has the answer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { homedir, hostname, passwdName, userName } from '../src/core/host-facts.js';

test('hostname, home directory and user name are the ones node:os gives', () => {
  assert.equal(hostname(), os.hostname());
  assert.equal(homedir(), os.homedir());
  assert.equal(homedir({ HOME: '/srv/x' }), '/srv/x');
  assert.equal(homedir({ HOME: '' }), os.homedir());
  assert.equal(userName(), os.userInfo().username);
});

test('passwdName takes the first entry for the uid and skips NIS markers and broken lines', () => {
  const text = '+::::::\nbroken:x:0\nroot:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\n'
    + 'daemon:x:1:1::/:/usr/sbin/nologin\n-:x:7:7::/:/bin/false\n:x:8:8::/:/bin/false\n';
  assert.equal(passwdName(text, 0), 'root');
  assert.equal(passwdName(text, 1), 'daemon');
  assert.equal(passwdName(text, 7), null);
  assert.equal(passwdName(text, 8), null);
  assert.equal(passwdName(text, 1000), null);
  assert.equal(passwdName('', 0), null);
});
