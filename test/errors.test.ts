/**
 * The error model's local-I/O errors: always temporary (EX_TEMPFAIL, 451 4.3.0), the errno
 * named once, and a fix for the errnos an admin can act on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EX, ioError } from '../src/core/errors.js';

const errnoError = (code: string, message: string) => Object.assign(new Error(message), { code });

test('ioError: temporary, and the errno said once whether or not Node put it in the message', () => {
  const table: Array<[Error | string, string]> = [
    [errnoError('ENOENT', "ENOENT: no such file or directory, open '/var/spool/sysmail/drop/x'"),
      "cannot write: ENOENT: no such file or directory, open '/var/spool/sysmail/drop/x'"],
    [errnoError('EIO', 'short read'), 'cannot write: EIO: short read'],
    ['plain text', 'cannot write: plain text'],
  ];
  for (const [cause, message] of table) {
    const e = ioError('cannot write', cause);
    assert.equal(e.message, message);
    assert.equal(e.exit, EX.TEMPFAIL);
    assert.equal(e.temporary, true);
    assert.equal(e.smtpCode, 451);
  }
});

test('ioError: a fix for a full disk, a permission problem and a read-only file system', () => {
  assert.match(ioError('x', errnoError('ENOSPC', 'ENOSPC: no space left on device')).hint ?? '', /full/);
  assert.match(ioError('x', errnoError('EACCES', 'EACCES: permission denied')).hint ?? '', /owner and mode/);
  assert.match(ioError('x', errnoError('EROFS', 'EROFS: read-only file system')).hint ?? '', /read-only/);
  assert.equal(ioError('x', errnoError('EIO', 'EIO')).hint, undefined);
});
