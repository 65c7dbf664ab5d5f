/**
 * What the importer applies to every message an unprivileged user left in drop/: exactly the
 * checks and preparation of `sendmail` input (prepareMessage: envelope addresses built by the one
 * address parser, so `|cmd`, `/path` and `-oX` are refused and bare names qualified; NUL refused;
 * Bcc removed; Date, From and Message-ID added), plus a Received line naming the real submitter's
 * uid, as Postfix's pickup does. A refusal is a SysmailError that is not temporary: the importer
 * keeps a bounded copy in corrupt/ with the reason.
 */
import type { Config } from '../config/types.js';
import type { PrepareImport } from '../spool/file-spool.js';

export function dropPreparer(config: Config): PrepareImport {
  return async (envelope, message) => {
    const { prepareMessage, formatDate } = await import('../message/prepare.js');
    const g = config.general;
    const now = new Date();
    const p = prepareMessage({
      raw: message, sender: envelope.sender, recipients: envelope.recipients, extractRecipients: false,
      user: envelope.user, hostname: g.hostname, domain: g.domain, now, tagHost: g.tagHost,
    });
    const host = g.hostname.replace(/[^\x21-\x7e]/g, '?');
    const received = `Received: by ${host} (sysmail, from userid ${envelope.uid});\n\t${formatDate(now)}\n`;
    return { sender: p.sender, recipients: p.recipients, message: Buffer.concat([Buffer.from(received, 'latin1'), p.message]) };
  };
}
