// timing-sink.mjs - the relay for bench/smtp-arrival.mjs: a minimal SMTP server that notes when
// each message's final dot arrives (process.hrtime: CLOCK_MONOTONIC, the same clock in every
// process of the machine) and tells its parent over IPC. Its own process, as a relay is another
// host in real use: in the parent's process its replies waited for the bench client's own work.
//
//   node bench/lib/timing-sink.mjs [--pipelining]    (a child with an IPC channel; sends {port} first)
// --pipelining: announce PIPELINING (RFC 2920), as Postfix, Exchange and the big relays do; the
// replies are the same either way, one per command, in order.
import net from 'node:net';

const pipelining = process.argv.includes('--pipelining');
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** One SMTP connection; `arrived(token, ms)` for each message that carries a bench token. */
export function sinkConnection(s, arrived, { offerPipelining = false } = {}) {
  s.setNoDelay(true);
  let buf = ''; let inData = false; let data = '';
  s.write('220 sink ESMTP\r\n');
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
      else if (cmd === 'QUIT') { s.end(out + '221 bye\r\n'); return; }
      else out += '250 ok\r\n';
    }
    // Replies to commands that came together leave together (what a pipelining server does).
    if (out) s.write(out);
  });
  s.on('error', () => {});
}

if (process.send) {
  const server = net.createServer((s) => sinkConnection(s, (tok, t) => process.send({ tok, t }), { offerPipelining: pipelining }));
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('disconnect', () => process.exit(0));
}
