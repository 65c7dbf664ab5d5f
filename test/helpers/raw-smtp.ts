/**
 * A scripted raw-socket SMTP server on 127.0.0.1, port 0, for exact or broken
 * replies that a real server library will not produce: 421 on connect, a drop
 * in the middle of DATA, a greeting that never comes, 5xx on one RCPT only.
 *
 *   const srv = await startRawSmtp(async (c) => {
 *     c.reply('421 4.3.2 going down');   // CRLF is added
 *     c.end();
 *   });
 *   ... connect to srv.host:srv.port ...
 *   srv.transcripts[0]  // every line the client sent on connection 0 (no CRLF)
 *   await srv.close();
 *
 * For a normal session with a few replies changed, use `smtpSession`:
 *
 *   startRawSmtp((c) => smtpSession(c, { rcpt: (a) => a.startsWith('bad') ? '550 5.1.1 no' : undefined }))
 *
 * The script runs once per connection; when it returns, the connection is
 * ended (unless the script already ended or destroyed it). Script errors are
 * recorded in `errors`, never thrown into the test runner.
 */
import net from 'node:net';

export interface RawConnection {
  socket: net.Socket;
  /** Lines the client sent so far, without CRLF. */
  received: string[];
  /** Writes text exactly as given. */
  write(text: string): void;
  /** Writes one reply line (or several, joined), each followed by CRLF. */
  reply(...lines: string[]): void;
  /** Next line from the client, without CRLF; null when the client closed or after ms (default 5000). */
  readLine(ms?: number): Promise<string | null>;
  /** Reads DATA content up to the lone "." line; returns it (lines joined by CRLF), or null on close. */
  readData(ms?: number): Promise<string | null>;
  end(): void;
  destroy(): void;
}

export interface RawServer {
  host: string;
  port: number;
  /** Lines received per connection, in order of connection. */
  transcripts: string[][];
  errors: Error[];
  readonly connections: number;
  close(): Promise<void>;
}

export type RawScript = (c: RawConnection) => unknown;

function wrap(socket: net.Socket, received: string[]): RawConnection {
  let buf = '';
  let closed = false;
  const waiting: Array<() => void> = [];
  const wake = () => { for (const w of waiting.splice(0)) w(); };
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => { buf += d; wake(); });
  socket.on('close', () => { closed = true; wake(); });
  socket.on('error', () => { closed = true; wake(); });

  const readLine = (ms = 5000): Promise<string | null> => new Promise((resolve) => {
    let settled = false;
    const timer = setTimeout(() => { done(null); }, ms);
    const done = (v: string | null) => { settled = true; clearTimeout(timer); resolve(v); };
    const attempt = () => {
      if (settled) return;
      const i = buf.indexOf('\n');
      if (i >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        received.push(line);
        done(line);
      } else if (closed) {
        done(null);
      } else {
        waiting.push(attempt);
      }
    };
    attempt();
  });

  return {
    socket,
    received,
    write: (text) => { if (!socket.destroyed) socket.write(text, 'latin1'); },
    reply: (...lines) => { if (!socket.destroyed) socket.write(lines.map((l) => l + '\r\n').join(''), 'latin1'); },
    readLine,
    async readData(ms = 5000) {
      const lines: string[] = [];
      for (;;) {
        const l = await readLine(ms);
        if (l === null) return null;
        if (l === '.') return lines.join('\r\n');
        lines.push(l);
      }
    },
    end: () => { socket.end(); },
    destroy: () => { socket.destroy(); },
  };
}

export async function startRawSmtp(script: RawScript): Promise<RawServer> {
  const transcripts: string[][] = [];
  const errors: Error[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    const received: string[] = [];
    transcripts.push(received);
    const c = wrap(socket, received);
    Promise.resolve()
      .then(() => script(c))
      .catch((e: unknown) => { errors.push(e instanceof Error ? e : new Error(String(e))); })
      .finally(() => { if (!socket.destroyed) socket.end(); });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address() as net.AddressInfo;
  return {
    host: '127.0.0.1',
    port: addr.port,
    transcripts,
    errors,
    get connections() { return transcripts.length; },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Replies to override in smtpSession; return undefined to keep the default. */
export interface SessionReplies {
  /** Greeting line (default "220 raw.test ESMTP"); null sends nothing and waits for the client to go. */
  greeting?: string | null;
  /** EHLO capability lines after the first (default: PIPELINING, 8BITMIME). */
  ehloLines?: string[];
  /** Reply to MAIL FROM; "drop" destroys the socket instead (a relay that closed a kept connection). */
  mail?: (from: string) => string | 'drop' | undefined;
  rcpt?: (to: string) => string | undefined;
  /** Reply to the DATA command (default "354 go ahead"). */
  data?: () => string | undefined;
  /** Reply after the message; `body` is the data as received. "drop" destroys the socket instead. */
  afterData?: (body: string) => string | 'drop' | undefined;
  /** Reply to RSET (default "250 2.0.0 ok"); "drop" destroys the socket instead. */
  rset?: () => string | 'drop' | undefined;
  /** Any other command (AUTH, STARTTLS, ...): default "502 5.5.1 not implemented". */
  other?: (line: string) => string | undefined;
}

/**
 * A plain-text SMTP session with the replies in `r` overriding the defaults.
 * Returns the message bodies received, in order.
 */
export async function smtpSession(c: RawConnection, r: SessionReplies = {}): Promise<string[]> {
  const bodies: string[] = [];
  if (r.greeting === null) {
    await c.readLine(60_000);
    return bodies;
  }
  c.reply(r.greeting ?? '220 raw.test ESMTP');
  if (r.greeting && /^[45]/.test(r.greeting)) return bodies;
  for (;;) {
    const line = await c.readLine(10_000);
    if (line === null) return bodies;
    const verb = line.split(/[ :]/)[0].toUpperCase();
    if (verb === 'EHLO') {
      const caps = r.ehloLines ?? ['PIPELINING', '8BITMIME'];
      c.reply(...(caps.length ? ['250-raw.test', ...caps.slice(0, -1).map((l) => '250-' + l), '250 ' + caps[caps.length - 1]] : ['250 raw.test']));
    } else if (verb === 'HELO') {
      c.reply('250 raw.test');
    } else if (verb === 'MAIL') {
      const m = r.mail?.(line.replace(/^MAIL FROM:<([^>]*)>.*$/i, '$1')) ?? '250 2.1.0 ok';
      if (m === 'drop') { c.destroy(); return bodies; }
      c.reply(m);
    } else if (verb === 'RCPT') {
      c.reply(r.rcpt?.(line.replace(/^RCPT TO:<([^>]*)>.*$/i, '$1')) ?? '250 2.1.5 ok');
    } else if (verb === 'DATA') {
      const d = r.data?.() ?? '354 go ahead';
      c.reply(d);
      if (!d.startsWith('354')) continue;
      const body = await c.readData(10_000);
      if (body === null) return bodies;
      bodies.push(body);
      const after = r.afterData?.(body) ?? '250 2.0.0 queued';
      if (after === 'drop') { c.destroy(); return bodies; }
      c.reply(after);
    } else if (verb === 'RSET') {
      const rr = r.rset?.() ?? '250 2.0.0 ok';
      if (rr === 'drop') { c.destroy(); return bodies; }
      c.reply(rr);
    } else if (verb === 'NOOP') {
      c.reply('250 2.0.0 ok');
    } else if (verb === 'QUIT') {
      c.reply('221 2.0.0 bye');
      c.end();
      return bodies;
    } else {
      c.reply(r.other?.(line) ?? '502 5.5.1 not implemented');
    }
  }
}
