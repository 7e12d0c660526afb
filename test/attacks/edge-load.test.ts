// A mixed load against a two-worker edge: GETs on keep-alive connections, POSTs with bodies of
// every framing, WebSockets, refused clients and clients that leave mid-body, for
// GATEHOUSE_LOAD_SECONDS (60 by default, and always in CI); it must end with zero worker restarts.
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import { isCI } from '../helpers/tools.js';
import {
  connectEdge,
  type EdgeLab,
  exchange,
  startEdgeLab,
  wsFrame,
  wsFrameSize,
  wsReadFrame,
} from './edge-lab.js';

const SECONDS = isCI ? 60 : Number(process.env.GATEHOUSE_LOAD_SECONDS ?? 60);

describe(`mixed load for ${SECONDS} s on a two-worker edge`, () => {
  let lab: EdgeLab;
  before(async () => {
    lab = await startEdgeLab({ workers: 2 });
  });
  after(async () => {
    await lab?.close();
  });

  test(
    'every request is answered as expected and no worker restarts',
    { timeout: (SECONDS + 120) * 1000 },
    async () => {
      const deadline = Date.now() + SECONDS * 1000;
      const counts: Record<string, number> = {};
      const unexpected: string[] = [];
      const count = (kind: string, ok: boolean, detail = '') => {
        counts[kind] = (counts[kind] ?? 0) + 1;
        if (!ok && unexpected.length < 20) unexpected.push(`${kind}: ${detail.slice(0, 300)}`);
      };
      const agent = new https.Agent({
        keepAlive: true,
        maxSockets: 2,
        ca: lab.rootPem,
        servername: 'node.test',
      });

      const get = () =>
        new Promise<void>((resolve) => {
          const req = https.request(
            { host: '127.0.0.1', port: lab.edgePort, path: '/load', headers: { host: 'node.test' }, agent },
            (res) => {
              res.resume();
              res.on('end', () => {
                count('get', res.statusCode === 200, String(res.statusCode));
                resolve();
              });
            },
          );
          req.on('error', (err) => {
            count('get', false, err.message);
            resolve();
          });
          req.end();
        });

      let n = 0;
      const post = async () => {
        n++;
        const host = n % 2 ? 'node.test' : 'raw.test';
        const body = 'b'.repeat((n * 7919) % 65536);
        const framing =
          n % 3 === 0
            ? `Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`
            : `Content-Length: ${body.length}\r\n\r\n${body}`;
        const r = await exchange(
          lab,
          host,
          `POST /load HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${framing}`,
        );
        count('post', r.statuses[0] === 200, r.text);
      };

      const websocket = async () => {
        const socket = await connectEdge(lab, 'node.test');
        let buf = Buffer.alloc(0);
        let upgraded = false;
        const echoed: string[] = [];
        const done = new Promise<void>((resolve) => {
          socket.on('data', (d: Buffer) => {
            buf = Buffer.concat([buf, d]);
            if (!upgraded) {
              const end = buf.indexOf('\r\n\r\n');
              if (end === -1) return;
              upgraded = buf.toString('latin1', 0, 12) === 'HTTP/1.1 101';
              buf = buf.subarray(end + 4);
              if (!upgraded) return resolve();
              for (let i = 0; i < 5; i++) socket.write(wsFrame(`f${i}`, true));
            }
            for (let text = wsReadFrame(buf); text !== undefined; text = wsReadFrame(buf)) {
              echoed.push(text);
              buf = buf.subarray(wsFrameSize(buf));
            }
            if (echoed.length === 5) resolve();
          });
          socket.once('close', () => resolve());
          setTimeout(resolve, 5_000);
        });
        socket.on('error', () => undefined);
        socket.write(
          'GET /ws HTTP/1.1\r\nHost: node.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
            'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
        );
        await done;
        socket.destroy();
        count('websocket', echoed.join(',') === 'echo:f0,echo:f1,echo:f2,echo:f3,echo:f4', echoed.join(','));
      };

      let m = 0;
      const refused = async () => {
        m++;
        const kind = m % 4;
        if (kind === 0) {
          const r = await exchange(lab, 'enforce.test', 'GET / HTTP/1.1\r\nHost: enforce.test\r\n\r\n');
          count('refused', r.statuses[0] === 403 && r.closed, r.text);
        } else if (kind === 1) {
          const r = await exchange(lab, 'unknown.test', 'GET / HTTP/1.1\r\nHost: unknown.test\r\n\r\n').catch(
            (err: Error) => ({ statuses: [0], text: err.message, closed: true }),
          );
          // The default certificate does not verify for an unknown name: refused at TLS or with 421.
          count('refused', r.statuses[0] === 421 || /certificate|altnames/i.test(r.text), r.text);
        } else if (kind === 2) {
          const r = await exchange(
            lab,
            'node.test',
            'POST / HTTP/1.1\r\nHost: node.test\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
          );
          count('refused', r.statuses[0] === 400, r.text);
        } else {
          const r = await exchange(
            lab,
            'node.test',
            ['POST /cut HTTP/1.1\r\nHost: node.test\r\nContent-Length: 50000\r\n\r\n', 'x'.repeat(5000)],
            {
              abort: true,
            },
          );
          count('refused', r.statuses.length === 0, r.text);
        }
      };

      const loop = async (fn: () => Promise<void>) => {
        while (Date.now() < deadline) await fn();
      };
      await Promise.all([loop(get), loop(get), loop(post), loop(websocket), loop(refused)]);
      agent.destroy();

      assert.deepEqual(unexpected, [], JSON.stringify(counts));
      for (const kind of ['get', 'post', 'websocket', 'refused'])
        assert.ok((counts[kind] ?? 0) > 0, `${kind}: none ran`);
      assert.equal(lab.workerDeaths(), 0, lab.server.output());
      assert.doesNotMatch(lab.server.output(), /TypeError|uncaught|unhandled/i);
    },
  );
});
