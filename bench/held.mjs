// Held blocking requests: BURSTS bursts of N blocking playlist requests for a part that
// does not exist yet, spread over ADDRS loopback source addresses (127.0.1.x), against a
// live event. Prints, per burst: statuses (200 answered when the part came, 503 beyond
// the held-request caps), /healthz latency while the burst is held, and amphi's RSS
// after it. Usage: node bench/held.mjs HTTP_BASE EVENT AMPHI_PID
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';

const [base, event, pid] = process.argv.slice(2);
const N = Number(process.env.HELD_N || 10000);
const ADDRS = Number(process.env.HELD_ADDRS || 100);
const BURSTS = Number(process.env.HELD_BURSTS || 4);
const url = new URL(base);

function get(path, localAddress) {
  return new Promise((resolve) => {
    const req = http.get(
      { host: url.hostname, port: url.port, path, localAddress, agent: false, timeout: 30000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body, retry: res.headers['retry-after'] }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: e.code || e.message }));
  });
}

const rssMiB = () => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
};

async function lowestPlaylist() {
  const master = await get(`/live/${event}/master.m3u8`, '127.0.0.1');
  const uris = master.body.split('\n').filter((l) => l && !l.startsWith('#'));
  return uris[uris.length - 1];
}

function nextPart(text) {
  const msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)[1]);
  const segs = (text.match(/#EXTINF/g) || []).length;
  const parts = text.slice(text.lastIndexOf('#EXTINF')).match(/#EXT-X-PART:/g) || [];
  return { msn: msn + segs, part: parts.length };
}

const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

const rendition = await lowestPlaylist();
console.log(`held: ${N} blocking requests x ${BURSTS} bursts from ${ADDRS} addresses; RSS before ${rssMiB()} MiB`);
for (let b = 1; b <= BURSTS; b++) {
  const pl = await get(`/live/${event}/${rendition}`, '127.0.0.1');
  const { msn, part } = nextPart(pl.body);
  const path = `/live/${event}/${rendition}?_HLS_msn=${msn}&_HLS_part=${part + 1}`;
  let holding = true;
  const health = [];
  const prober = (async () => {
    while (holding) {
      // From another process: this one is busy with the burst's sockets.
      const ms = await new Promise((resolve) =>
        execFile(
          'curl',
          ['-s', '-o', '/dev/null', '--interface', '127.0.0.2', '-m', '30', '-w', '%{time_total}', `${base}/healthz`],
          (err, out) => resolve(err ? 30000 : Number(out) * 1000),
        ),
      );
      health.push(ms);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const t0 = performance.now();
  const all = [];
  for (let i = 0; i < N; i++) all.push(get(path, `127.0.1.${1 + (i % ADDRS)}`));
  const res = await Promise.all(all);
  const took = (performance.now() - t0) / 1000;
  holding = false;
  await prober;
  const counts = {};
  for (const r of res) counts[r.status] = (counts[r.status] || 0) + 1;
  await new Promise((r) => setTimeout(r, 2000));
  console.log(
    `burst ${b}: ${JSON.stringify(counts)} in ${took.toFixed(1)} s; /healthz p50 ${pct(health, 50).toFixed(0)} ms ` +
      `p95 ${pct(health, 95).toFixed(0)} ms max ${Math.max(...health).toFixed(0)} ms (${health.length} probes); RSS ${rssMiB()} MiB`,
  );
}
