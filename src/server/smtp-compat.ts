/**
 * The one place where sysmail changes smtp-server's behaviour: for local
 * clients (loopback peers and `sendmail -bs`), to behave like Postfix's
 * smtpd does for them (1, 2), and for every client, not to offer AUTH before
 * TLS (3):
 *
 * 1. Bare local names. smtp-server refuses `MAIL FROM:<root>` and
 *    `RCPT TO:<root>` with 501 inside its command parser, before any handler
 *    runs, and has no option to allow them. dnf-automatic's default
 *    (`email_to = root`) and other local tools send exactly that. For a local
 *    client, a command the library refused that carries a plain local name is
 *    parsed again with a placeholder domain (so every other check of the
 *    library still applies: parameters, control characters) and the bare name
 *    is handed to our handlers, which qualify it as `sendmail` does. Relaying
 *    peers still get the library's 501.
 * 2. The greeting pause. smtp-server waits 100 ms before its 220 to catch
 *    early talkers (spam bots); a local client is not one, and the pause is
 *    most of the submission time. Local clients get the greeting at once.
 * 3. AUTH before STARTTLS. The library lists AUTH in every EHLO reply; a
 *    client then may send its password before TLS (we refuse it with 538,
 *    but it has crossed the network). The plaintext EHLO reply omits AUTH.
 * 4. The connection id. The library draws 80 random bits for each
 *    connection's id (crypto and BigInt: ~0.15 ms of the greeting after an
 *    idle pause here, docs/benchmarks.md); the id is only a label (logs, our
 *    session maps), so a counter, unique within the process, takes its place.
 *
 * Why a patch and not a fork or another server: smtp-server is otherwise what
 * we want (dialogue, limits, STARTTLS, AUTH) and is maintained. The patch
 * checks the library's code for the lines it relies on and throws
 * ESMTPCOMPAT when they are gone, so an upgrade that changes them fails the
 * tests (test/smtp-compat.test.ts) instead of silently restoring the old
 * behaviour. Idempotent; per server, the option LOCAL_CLIENT_OPTION decides.
 */
import { SysmailError, EX } from '../core/errors.js';

/** smtp-server option (ours): (remoteAddress) => is this a local client? */
export const LOCAL_CLIENT_OPTION = 'sysmailLocalClient';
/** RFC 2606: a domain that can never be real, used only inside the re-parse. */
const PLACEHOLDER = 'sysmail-bare-name.invalid';
/** A local name as sendmail accepts one on the command line: no '@', no '<>', no space; not an option. */
const BARE = /^((?:MAIL\s+FROM|RCPT\s+TO)\s*:\s*)<([A-Za-z0-9_][A-Za-z0-9._%+=-]{0,63})>(\s.*)?$/is;

/** What the patch relies on in smtp-server's SMTPServer; each must still be there. */
export const SERVER_FINGERPRINTS: Record<string, string[]> = {
  _handleProxy: ['_expectsProxyHeader(socket)', 'randomBytes(10)', 'setImmediate(() => callback(null, socketOptions))', 'ignoredHosts'],
};

/** What the patch relies on in smtp-server's SMTPConnection; each must still be there. */
export const FINGERPRINTS: Record<string, string[]> = {
  init: ['_setListeners', 'Too many connected clients', 'this.connectionReady(), 100'],
  handler_MAIL: ["_parseAddressCommand('mail from'", 'Bad sender address syntax'],
  handler_RCPT: ["_parseAddressCommand('rcpt to'", 'Bad recipient address syntax'],
  _parseAddressCommand: ['addressParts.length !== 2'],
  connectionReady: ['this._ready = true', '_sendGreeting'],
  handler_EHLO: ["this._server.options.authMethods.length && this._isSupported('AUTH')", "features.push('STARTTLS')"],
};

type Conn = {
  _server: { options: Record<string, unknown>; connections: Set<unknown> };
  remoteAddress: string;
  name: string;
  _setListeners(cb: () => void): void;
  connectionReady(): void;
  send(code: number, text: string, ...rest: unknown[]): void;
};
type Parsed = false | { address: string; args: unknown };
type ServerProto = {
  options: Record<string, unknown>;
  _expectsProxyHeader(socket: unknown): boolean;
  _handleProxy(socket: { remoteAddress?: string }, callback: (err: null, o: object) => void): void;
};
type Proto = Conn & {
  init(this: Conn): void;
  _parseAddressCommand(this: Conn, name: string, command: unknown): Parsed;
  [k: string]: unknown;
};

const PATCHED = Symbol.for('sysmail.smtp-compat');

function isLocal(conn: Conn): boolean {
  const f = conn._server.options[LOCAL_CLIENT_OPTION];
  return typeof f === 'function' && (f as (ip: string) => boolean)(conn.remoteAddress) === true;
}

/** Throws ESMTPCOMPAT when the library no longer has what the patch relies on. Pure. */
export function checkFingerprints(proto: Record<string, unknown>, fingerprints = FINGERPRINTS, cls = 'SMTPConnection'): void {
  for (const [method, needles] of Object.entries(fingerprints)) {
    const fn = proto[method];
    const src = typeof fn === 'function' ? Function.prototype.toString.call(fn) : '';
    const missing = needles.filter((n) => !src.includes(n));
    if (missing.length > 0) {
      throw new SysmailError('ESMTPCOMPAT', `smtp-server changed: ${cls}.${method} no longer has ${missing.map((m) => JSON.stringify(m)).join(', ')}`, {
        exit: EX.SOFTWARE,
        hint: 'src/server/smtp-compat.ts must be updated for this smtp-server version (bare local names, greeting pause)',
      });
    }
  }
}

/** Re-parses a command the library refused, when it is a plain local name from a local client. */
export function reparseBare(original: (name: string, command: unknown) => Parsed, name: string, command: unknown): Parsed {
  const m = BARE.exec(String(command ?? '').trim());
  if (!m) return false;
  const again = original(name, `${m[1]}<${m[2]}@${PLACEHOLDER}>${m[3] ?? ''}`);
  if (!again || again.address.toLowerCase() !== `${m[2]}@${PLACEHOLDER}`.toLowerCase()) return false;
  return { ...again, address: m[2]! };
}

export async function installSmtpCompat(): Promise<void> {
  const [{ SMTPConnection }, { SMTPServer }] = await Promise.all([
    import('smtp-server/lib/smtp-connection.js') as unknown as Promise<{ SMTPConnection: { prototype: Proto } }>,
    import('smtp-server') as unknown as Promise<{ SMTPServer: { prototype: ServerProto } }>,
  ]);
  const proto = SMTPConnection.prototype;
  if ((proto as unknown as Record<symbol, boolean>)[PATCHED]) return;
  checkFingerprints(proto);
  checkFingerprints(SMTPServer.prototype as unknown as Record<string, unknown>, SERVER_FINGERPRINTS, 'SMTPServer');
  const origInit = proto.init;
  const origParse = proto._parseAddressCommand;
  proto.init = function init(this: Conn) {
    if (!isLocal(this)) return origInit.call(this);
    // The library's init without the early-talker timer.
    this._setListeners(() => {
      const max = this._server.options.maxClients as number | undefined;
      if (max && this._server.connections.size > max) {
        return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
      }
      this.connectionReady();
    });
  };
  proto._parseAddressCommand = function parseAddressCommand(this: Conn, name: string, command: unknown): Parsed {
    const parsed = origParse.call(this, name, command);
    if (parsed !== false || !isLocal(this)) return parsed;
    return reparseBare((n, c) => origParse.call(this, n, c), name, command);
  };
  // 3. AUTH is not offered before TLS (RFC 4954 §4: credentials only over an encrypted session;
  //    AUTH sent anyway is refused with 538 by session.ts). The library lists AUTH in every EHLO,
  //    so its method list is hidden while one plaintext EHLO reply is built (synchronously), and
  //    put back before the next command runs. For every client, local or not.
  const origEhlo = proto.handler_EHLO as (this: Conn & { secure: boolean }, command: unknown, callback: (...a: unknown[]) => void) => void;
  proto.handler_EHLO = function handlerEhlo(this: Conn & { secure: boolean }, command: unknown, callback: (...a: unknown[]) => void) {
    const options = this._server.options;
    const methods = options.authMethods;
    if (this.secure || !Array.isArray(methods) || methods.length === 0) return origEhlo.call(this, command, callback);
    options.authMethods = [];
    try {
      return origEhlo.call(this, command, (...a: unknown[]) => { options.authMethods = methods; callback(...a); });
    } finally {
      options.authMethods = methods;
    }
  };
  // 4. A counter for the connection id, for every socket that carries no PROXY header.
  const sproto = SMTPServer.prototype;
  const origProxy = sproto._handleProxy;
  const stamp = Date.now().toString(32);
  let seq = 0;
  sproto._handleProxy = function handleProxy(this: ServerProto, socket: { remoteAddress?: string }, callback: (err: null, o: object) => void) {
    if (this._expectsProxyHeader(socket)) return origProxy.call(this, socket, callback);
    const ignored = this.options.ignoredHosts;
    const socketOptions = { id: `${stamp}${(++seq).toString(32).padStart(8, '0')}`,
      ignore: Array.isArray(ignored) && ignored.includes(socket.remoteAddress) };
    setImmediate(() => callback(null, socketOptions));
  };
  (proto as unknown as Record<symbol, boolean>)[PATCHED] = true;
}
