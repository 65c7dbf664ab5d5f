/**
 * The `local` transport: per-user delivery on this host. The recipient's
 * local part must name a system user (passwd file, then NSS via getent);
 * "user+detail" falls back to "user" when no user has the full name.
 *
 * - format "mbox": appended to `<mailDir>/<user>` (mbox.ts: dot lock,
 *   truncate-back); a new mailbox is created 0600 and owned by the user.
 * - format "maildir": delivered into `<home>/<maildirName>` (maildir.ts);
 *   directories and files created are chowned to the user; existing ones
 *   must be real directories owned by the user (root must not follow a
 *   user's symlinks).
 *
 * Outcomes: unknown user -> failed 550 5.1.1 (it can never succeed); any local
 * I/O problem (missing home, permissions, lock timeout, full disk, unreadable
 * passwd) -> deferred. Never throws.
 */
import { stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { LocalTransportConfig } from '../config/types.js';
import { tempError, type ErrorCode, type SysmailError } from '../core/errors.js';
import type { OutgoingMessage, RecipientResult, Transport, TransportContext } from './types.js';
import { deliverToMaildir } from './maildir.js';
import { addDeliveryHeaders, localPartOf, resultFromError } from './mailbox.js';
import { appendToMbox, formatMboxEntry, type MboxOptions } from './mbox.js';
import { lookupUser, SYSTEM_PASSWD, type PasswdEntry } from './passwd.js';

export interface LocalTransportOptions {
  /** passwd file to resolve users from (tests). Default /etc/passwd, then NSS. */
  passwdPath?: string;
  /** Lock timing for mbox delivery (tests). */
  mbox?: Pick<MboxOptions, 'lockWaitMs' | 'lockStaleMs' | 'lockPollMs'>;
}

function deferral(code: ErrorCode, message: string, hint: string): SysmailError {
  return tempError(code, message, undefined, hint);
}

/** The user a recipient is for: "Name" -> "name", "user+detail" -> "user" when needed. */
export async function resolveLocalUser(rcpt: string, passwdPath: string): Promise<PasswdEntry | null> {
  const local = localPartOf(rcpt);
  const found = await lookupUser(local, passwdPath);
  if (found) return found;
  const plus = local.indexOf('+');
  return plus > 0 ? lookupUser(local.slice(0, plus), passwdPath) : null;
}

export function createLocalTransport(cfg: LocalTransportConfig, ctx: TransportContext, opts: LocalTransportOptions = {}): Transport {
  const passwdPath = opts.passwdPath ?? SYSTEM_PASSWD;

  async function toMaildir(user: PasswdEntry, bytes: Buffer): Promise<string> {
    if (isAbsolute(cfg.maildirName) || cfg.maildirName.split('/').includes('..')) {
      throw deferral('EBADCONFIG', `transports.${cfg.name}.maildir_name "${cfg.maildirName}" must be a path inside the home directory`,
        'use a relative path such as "Maildir"');
    }
    if (!isAbsolute(user.home)) {
      throw deferral('ENOHOME', `user ${user.name} has no usable home directory ("${user.home}")`, 'set a home directory in /etc/passwd or use format = "mbox"');
    }
    try {
      if (!(await stat(user.home)).isDirectory()) throw new Error('not a directory');
    } catch {
      throw deferral('ENOHOME', `home directory ${user.home} of user ${user.name} does not exist`,
        'create it (owned by the user), or use format = "mbox"; sysmail retries on its own');
    }
    return deliverToMaildir(join(user.home, cfg.maildirName), bytes,
      { owner: { uid: user.uid, gid: user.gid }, base: user.home, hostname: ctx.config.general.hostname, now: ctx.now });
  }

  async function toMbox(user: PasswdEntry, sender: string, bytes: Buffer): Promise<string> {
    const path = join(cfg.mailDir, user.name);
    await appendToMbox(path, formatMboxEntry(sender, new Date(ctx.now()), bytes), { ...opts.mbox, owner: { uid: user.uid, gid: user.gid } });
    return path;
  }

  return {
    name: cfg.name,
    type: 'local',
    async deliver(msg: OutgoingMessage, rcpts: string[]): Promise<RecipientResult[]> {
      const results: RecipientResult[] = [];
      for (const rcpt of rcpts) {
        try {
          const user = await resolveLocalUser(rcpt, passwdPath);
          if (!user) {
            results.push({ rcpt, outcome: 'failed', code: 550, dsn: '5.1.1',
              text: `no such local user: ${localPartOf(rcpt)}` });
            continue;
          }
          const bytes = addDeliveryHeaders(msg.raw, msg.envelope.sender, rcpt);
          const where = cfg.format === 'maildir' ? await toMaildir(user, bytes) : await toMbox(user, msg.envelope.sender, bytes);
          results.push({ rcpt, outcome: 'sent', code: 250, dsn: '2.0.0', text: `delivered to ${where}` });
        } catch (err) {
          results.push(resultFromError(rcpt, err));
        }
      }
      return results;
    },
    async close() {},
  };
}
