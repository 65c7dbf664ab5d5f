/**
 * esmtprc -> sysmail.toml.
 *
 * Each esmtp identity becomes its own smtp transport (no inheritance, as in
 * esmtp); each named identity other than the default gets a route keyed by
 * `match.sender`, placed before the catch-all route of the default identity.
 * An `mda` becomes a command transport with a route for local recipients
 * (all mail with `force_mda`); %T becomes {local}, the recipients' local
 * names, space-separated in one argument, exactly what esmtp passed.
 * qualifydomain qualifies only: it never makes its domain local, and with an
 * mda bare names keep going to the MDA. Passwords go to secret files.
 * Everything esmtp did that sysmail does differently is a warning with its line.
 * Pure: text in, ImportResult out; never throws.
 */
import { commandArgv } from './shell-words.js';
import { splitHostPort, warnCleartextAuth, movePassword } from './common.js';
import { parseEsmtprc, type EsmtpIdentity, type Setting } from './esmtprc-parse.js';
import { Draft, Notes, SECRETS_HEADER, standardHeader, type DraftTransport } from './model.js';
import type { ImportOptions, ImportResult } from './types.js';

const SECURITY: Record<string, 'none' | 'opportunistic' | 'starttls'> = {
  disabled: 'none',
  enabled: 'opportunistic',
  required: 'starttls',
};

function identityTransport(draft: Draft, notes: Notes, id: EsmtpIdentity, isDefault: boolean): DraftTransport {
  const s = id.settings;
  const base = id.address ?? 'smarthost';
  const what = id.address === null
    ? 'esmtp global identity (the options before the first "identity")'
    : `esmtp identity ${id.address} (line ${id.line}); like esmtp, it inherits nothing from other identities`;
  const t = draft.addTransport(base, 'smtp', [what]);

  const host = s.get('hostname');
  if (host) {
    const hp = splitHostPort(host.value);
    if (hp.bad !== undefined) notes.warn(host.line, `port "${hp.bad}" in "${host.value}" is not a number or a known service name; used 587, esmtp's default`);
    draft.set(t, 'host', hp.host);
    draft.set(t, 'port', hp.port ?? 587, hp.port === null ? 'esmtp default when hostname has no port' : undefined);
  } else {
    draft.set(t, 'host', 'localhost', 'esmtp default when no hostname is set');
    draft.set(t, 'port', 25);
  }

  const tls = s.get('starttls');
  if (draft.get(t, 'port') === 465) {
    // libESMTP speaks plain SMTP or STARTTLS, neither of which port 465 offers: the intent was TLS.
    draft.set(t, 'security', 'tls', `port 465 expects TLS from the first byte (esmtp had "starttls ${tls?.value ?? 'disabled'}")`);
    notes.warn((tls ?? host)!.line, 'esmtp can only do STARTTLS or plain SMTP, and servers on port 465 expect TLS from the first byte, so this identity could not work as written; the import uses security = "tls", which is what port 465 expects');
  } else {
    draft.set(t, 'security', SECURITY[tls?.value ?? 'disabled']!,
      tls ? `esmtp "starttls ${tls.value}"` : 'esmtp default: starttls disabled');
  }

  const user = s.get('username');
  const pass = s.get('password');
  if (user) draft.set(t, 'username', user.value);
  if (pass) {
    if (!user) {
      notes.warn(pass.line, 'a password without a username: esmtp never used it, so it was not carried over');
    } else {
      movePassword(draft, notes, t, pass.value, pass.line);
      // sysmail never sends a password without verified TLS unless told to (allow_plaintext_auth):
      // "starttls enabled" becomes "required", so the imported config neither leaks nor stops working.
      const sec = draft.get(t, 'security');
      if (sec === 'opportunistic') {
        draft.set(t, 'security', 'starttls', `esmtp "starttls enabled" with a password: STARTTLS is required, so the password never goes in clear`);
        notes.warn((tls ?? pass).line, 'esmtp "starttls enabled" sent the password in clear text when the server did not offer STARTTLS (or a man in the middle hid it); the import requires STARTTLS (security = "starttls")');
      } else if (sec === 'none') {
        // The esmtp config chose clear text explicitly (or by esmtp's default): carried over as the
        // explicit opt-in sysmail needs, with a warning (config check repeats it).
        draft.set(t, 'allow_plaintext_auth', true, 'esmtp "starttls disabled": the password goes in clear text');
        notes.warn((tls ?? pass).line, 'esmtp sent this password in clear text (starttls disabled); the import keeps that with allow_plaintext_auth = true: use security = "starttls" if the server supports it, and remove allow_plaintext_auth');
      }
    }
  } else if (user) {
    notes.warn(user.line, 'a username without a password: esmtp could not log in with it; add password_file (or password_command) to the transport');
  }

  const helo = s.get('helo');
  if (helo) draft.set(t, 'helo', helo.value);

  forceSender(draft, notes, t, s.get('force reverse_path'), s.get('force sender'));

  const pre = s.get('preconnect');
  if (pre) {
    const c = commandArgv(pre.value);
    draft.set(t, 'preconnect', c.argv);
    if (c.shell) notes.warn(pre.line, `preconnect uses ${c.reason}, so it runs through /bin/sh -c; check it, or turn it into a plain program with arguments`);
  }
  const post = s.get('postconnect');
  if (post) notes.warn(post.line, 'postconnect is not supported by sysmail: the command is not carried over (run it from a systemd unit or cron job instead)');

  const pp = s.get('certificate_passphrase');
  if (pp) {
    notes.warn(pp.line, 'certificate_passphrase: client certificates must be configured by hand with client_cert and client_key (esmtp read ~/.authenticate/private/smtp-starttls.pem); sysmail needs an unencrypted key file (mode 0600), so the passphrase is not carried over');
  }

  const mid = s.get('message_id');
  if (mid) {
    notes.warn(mid.line, mid.value === 'disabled'
      ? '"message_id disabled" cannot be carried over: sysmail always adds a Message-ID header when the message has none'
      : '"message_id enabled" needs nothing: sysmail always adds a Message-ID header when the message has none');
  }

  if (isDefault && id.address !== null && draft.get(t, 'force_sender') === undefined) {
    notes.warn(id.line, `esmtp used ${id.address} as the envelope sender of mail sent without -f; sysmail uses the sending user's address (user@general.domain). If the relay only accepts ${id.address}, add force_sender = "${id.address}" to transport "${t.name}"`);
  }
  if (host || user) warnCleartextAuth(draft, t, notes, (host ?? user)!.line);
  return t;
}

function forceSender(draft: Draft, notes: Notes, t: DraftTransport, rp: Setting | undefined, snd: Setting | undefined): void {
  const usable = (s: Setting, what: string): string | null => {
    if (/%[^%]/.test(s.value.replace(/%%/g, ''))) {
      notes.warn(s.line, `"force ${what} ${s.value}" uses %u (the user name), which sysmail cannot expand: not carried over; set force_sender by hand if needed`);
      return null;
    }
    return s.value.replace(/%%/g, '%');
  };
  if (rp) {
    const v = usable(rp, 'reverse_path');
    if (v !== null) draft.set(t, 'force_sender', splitMailbox(v).address, `esmtp "force reverse_path" (line ${rp.line})`);
    if (snd) notes.warn(snd.line, '"force sender" set a Sender: header; sysmail does not rewrite headers, and force_sender already comes from "force reverse_path": not carried over');
  } else if (snd) {
    const v = usable(snd, 'sender');
    if (v === null) return;
    const { address, name } = splitMailbox(v);
    draft.set(t, 'force_sender', address, `esmtp "force sender" (line ${snd.line})`);
    notes.warn(snd.line, `"force sender" made esmtp add a Sender: header; sysmail's force_sender sets the envelope sender (MAIL FROM) to ${address} instead and leaves the headers alone`
      + (name ? `; the display name "${name}" belongs in a header, not the envelope, so it was not carried over` : ''));
  }
}

/** `Joe <joe@x>` -> address joe@x and name Joe; a bare address is returned as is. */
export function splitMailbox(v: string): { address: string; name: string | null } {
  const m = /^\s*(.*?)\s*<([^<>]*)>\s*$/.exec(v);
  if (!m) return { address: v.trim(), name: null };
  const name = m[1]!.replace(/^"(.*)"$/, '$1').trim();
  return { address: m[2]!.trim(), name: name || null };
}

export function importEsmtprc(text: string, file: string, opts: ImportOptions = {}): ImportResult {
  const notes = new Notes(file);
  const rc = parseEsmtprc(text, notes);
  const draft = new Draft(opts);
  draft.header.push(...standardHeader('esmtprc', [file]));

  // esmtp looks identities up newest first, so a repeated address means the last block.
  const live: EsmtpIdentity[] = [];
  rc.identities.forEach((id, idx) => {
    if (id.address === null && !id.hasOptions && idx !== rc.defaultIndex) return;
    const later = rc.identities.slice(idx + 1).find((o) => o.address !== null && o.address === id.address);
    if (later && idx !== rc.defaultIndex) {
      notes.warn(id.line, `identity ${id.address} is defined again on line ${later.line}; esmtp uses the later block, so this one was not carried over`);
      return;
    }
    live.push(id);
  });
  const def = rc.identities[rc.defaultIndex]!;

  const transports = new Map<EsmtpIdentity, DraftTransport>();
  for (const id of live) transports.set(id, identityTransport(draft, notes, id, id === def));

  // One general.domain: the default identity's qualifydomain wins.
  const qd = def.settings.get('qualifydomain') ?? live.map((id) => id.settings.get('qualifydomain')).find((x) => x);
  const localMda = rc.mda !== null && !(rc.forceMda?.value === 'enabled');
  if (qd && localMda) {
    // esmtp handed bare names to the MDA before qualifying anything; sysmail qualifies first, so
    // qualifying with qualifydomain would send root's mail to the relay instead of the MDA.
    notes.warn(qd.line, `qualifydomain ${qd.value}: esmtp gave bare names ("root") to the MDA and qualified only what went to the relay; `
      + 'sysmail qualifies every bare name with one general.domain, so it stays this host\'s name and bare names keep reaching the MDA '
      + `(route "local-mda"). Mail sent without -f then has the sender user@<this host> rather than user@${qd.value}; `
      + `if the relay needs ${qd.value}, set force_sender on its transport`);
  } else if (qd) {
    draft.setGeneral('domain', qd.value, `esmtp qualifydomain (line ${qd.line}): bare names like "root" become root@${qd.value}`);
    // esmtp only qualified with it; in sysmail general.domain is also a local domain unless local_domains says otherwise,
    // which would keep mail for every @${qd.value} address on this host (aliases, admin) instead of sending it to the relay.
    const local = [opts.hostname, 'localhost'].filter((d, k, a): d is string => !!d && d !== qd.value && a.indexOf(d) === k);
    draft.setGeneral('local_domains', local, `only qualifies: mail for @${qd.value} goes to the relay, as with esmtp`);
  }
  const qualified = qd && !localMda ? qd.value.toLowerCase() : (opts.hostname ?? '').toLowerCase();
  for (const id of live) {
    if (id === def || id.address === null || !qualified) continue;
    if (id.address.toLowerCase().endsWith(`@${qualified}`)) {
      notes.warn(id.line, `identity ${id.address}: sysmail picks it by envelope sender, and mail that ${id.address.split('@')[0]} sends without -f also has that sender `
        + `(bare names are qualified with ${qualified}), so all of it takes this identity; esmtp used it only with -f ${id.address}`);
    }
  }
  for (const id of live) {
    const q = id.settings.get('qualifydomain');
    if (q && qd && q !== qd && q.value !== qd.value) {
      notes.warn(q.line, `qualifydomain ${q.value} differs from ${qd.value}: sysmail has one general.domain for all mail, so it was not carried over`);
    }
  }

  let mdaName: string | null = null;
  if (rc.mda) mdaName = mdaTransport(draft, notes, rc.mda);
  if (rc.forceMda && !rc.mda) notes.warn(rc.forceMda.line, '"force_mda" without an "mda": nothing to send mail to; ignored');
  const forceMda = mdaName !== null && rc.forceMda !== null && rc.forceMda.value === 'enabled';

  if (mdaName !== null && forceMda) {
    draft.addRoute({ name: 'mda', comments: [`esmtp force_mda (line ${rc.forceMda!.line}): all mail goes to the MDA`], transports: [mdaName] });
    notes.warn(rc.forceMda!.line, 'force_mda: every recipient is routed to the MDA, so the smtp transports are defined but no route uses them');
  } else {
    if (mdaName !== null) {
      const domains = [opts.hostname, 'localhost'].filter((d, k, a): d is string => !!d && a.indexOf(d) === k);
      draft.addRoute({
        name: 'local-mda',
        comments: ['esmtp delivered addresses without "@" through the MDA; sysmail qualifies them with general.domain first'],
        match: { domain: domains },
        transports: [mdaName],
      });
      if (!opts.hostname) {
        notes.warn(rc.mda!.line, 'this host\'s name is unknown, so only @localhost recipients go to the MDA: add this host\'s name to match.domain of route "local-mda"');
      }
    }
    for (const id of live) {
      if (id === def || id.address === null) continue;
      draft.addRoute({
        name: `from-${transports.get(id)!.name}`,
        comments: [`esmtp picked identity ${id.address} when the sender (-f) was exactly this address`],
        match: { sender: [id.address] },
        transports: [transports.get(id)!.name],
      });
    }
    const comments = [def.address === null
      ? 'everything else: the esmtp default identity'
      : `everything else: identity ${def.address}, the esmtp default${rc.defaultLine ? ` ("default" on line ${rc.defaultLine})` : ''}`];
    if (mdaName === null && !qd) comments.push('esmtp had no mda, so mail to local names failed (exit 72); here it is qualified and relayed too');
    draft.addRoute({ name: 'default', comments, transports: [transports.get(def)!.name] });
  }

  if (draft.secrets.length > 0) draft.header.push(SECRETS_HEADER);
  return { toml: draft.render(), secrets: draft.secrets, warnings: notes.result() };
}

function mdaTransport(draft: Draft, notes: Notes, mda: Setting): string {
  const t = draft.addTransport('mda', 'command', [`esmtp mda "${mda.value}" (line ${mda.line})`]);
  const cmd = mda.value;
  const hasT = cmd.includes('%T');
  const hasF = cmd.includes('%F');
  const c = commandArgv(cmd);
  let argv: string[];
  if (!c.shell) {
    argv = c.argv.map((a) => a.replace(/%T/g, '{local}').replace(/%F/g, '{from}'));
  } else {
    // Placeholders must never be pasted into shell code: pass them as "$1"/"$2".
    const script = cmd.replace(/%T/g, '"$1"').replace(/%F/g, '"$2"');
    argv = ['/bin/sh', '-c', script, 'sh', ...(hasT || hasF ? ['{local}', '{from}'] : [])];
    notes.warn(mda.line, `the mda uses ${c.reason}, so it runs through /bin/sh -c with the recipients and sender passed as "$1" and "$2"; check it`);
  }
  draft.set(t, 'argv', argv);
  draft.set(t, 'stdin', 'message', 'esmtp piped the whole message to the MDA');
  if (/%s/.test(cmd)) notes.warn(mda.line, '"%s" is not a placeholder (esmtp did not expand it either): it is passed literally');
  return t.name;
}
