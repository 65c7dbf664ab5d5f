// timing-sink.mjs - the relay for bench/smtp-arrival.mjs: a minimal SMTP server that notes when
// each message's final dot arrives (process.hrtime: CLOCK_MONOTONIC, the same clock in every
// process of the machine) and tells its parent over IPC. Its own process, as a relay is another
// host in real use: in the parent's process its replies waited for the bench client's own work.
//
//   node bench/lib/timing-sink.mjs [--pipelining] [--delay MS]   (a child with an IPC channel; sends {port} first)
// --pipelining: announce PIPELINING (RFC 2920), as Postfix, Exchange and the big relays do; the
// replies are the same either way, one per command, in order.
// --delay MS: every reply, the greeting included, leaves MS ms after what it answers: a relay at
// that round-trip time (a smarthost in the same data centre: ~0.5-2 ms; another region: 20-100).
// The arrival is noted when the final dot comes in, before its delayed reply.
import net from 'node:net';

const pipelining = process.argv.includes('--pipelining');
const delayArg = process.argv.indexOf('--delay');
const delay = delayArg >= 0 ? Number(process.argv[delayArg + 1]) : 0;
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** One SMTP connection; `arrived(token, ms)` for each message that carries a bench token. */
export function sinkConnection(s, arrived, { offerPipelining = false, replyDelay = 0 } = {}) {
  s.setNoDelay(true);
  // Timers of the same delay fire in the order they were set: replies keep their order.
  const send = (text, end = false) => {
    const go = () => { if (s.destroyed) return; if (end) s.end(text); else s.write(text); };
    if (replyDelay > 0) setTimeout(go, replyDelay); else go();
  };
  let buf = ''; let inData = false; let data = '';
  send('220 sink ESMTP\r\n');
  s.on('data', (d) => {
    buf += d.toString('latin1');
    let out = '';
    for (;;) {
      if (inData) {
        // The terminator may be split across reads: search the whole message so far.
        data += buf; buf = '';
        const end = data.indexOf('\r\n.\r\n');
        if (end < 0) break;
        buf = data.slice(end + 5); data = data.slice(0, end); inData = false;
        const t = now();
        const tok = /bench-token-(\d+-\w+)/.exec(data)?.[1];
        data = '';
        if (tok) arrived(tok, t);
        out += '250 ok\r\n';
        continue;
      }
      const nl = buf.indexOf('\r\n');
      if (nl < 0) break;
      const line = buf.slice(0, nl); buf = buf.slice(nl + 2);
      const cmd = line.slice(0, 4).toUpperCase();
      if (cmd === 'EHLO' || cmd === 'HELO') out += `250-sink\r\n${offerPipelining ? '250-PIPELINING\r\n' : ''}250 8BITMIME\r\n`;
      else if (cmd === 'DATA') { inData = true; out += '354 go\r\n'; }
      else if (cmd === 'QUIT') { send(out + '221 bye\r\n', true); return; }
      else out += '250 ok\r\n';
    }
    // Replies to commands that came together leave together (what a pipelining server does).
    if (out) send(out);
  });
  s.on('error', () => {});
}

if (process.send) {
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    sinkConnection(s, (tok, t) => process.send({ tok, t, connections }), { offerPipelining: pipelining, replyDelay: delay });
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('disconnect', () => process.exit(0));
}
