// Child process of bench/scale.mjs (the "idle" run): opens `count` keep-alive mTLS connections,
// 32 handshakes at a time, sends one request on each and then keeps it open, sending another
// request every 20 s (Gatehouse's edge closes a keep-alive connection idle for 30 s). Reports
// JSON lines on stdout: {"open":N,"failed":N,"closed":N,"done":bool}. Stops on SIGTERM.

import { connect } from 'node:tls';

const { port, serverName, cert, key, count } = JSON.parse(process.argv[2]);
const options = {
  host: '127.0.0.1',
  port,
  servername: serverName,
  rejectUnauthorized: false,
  cert: await import('node:fs').then((fs) => fs.readFileSync(cert)),
  key: await import('node:fs').then((fs) => fs.readFileSync(key)),
  minVersion: 'TLSv1.3',
};
const PING_MS = 20_000;
const request = `GET /idle HTTP/1.1\r\nHost: ${serverName}\r\n\r\n`;
const state = { open: 0, failed: 0, closed: 0, done: false };
const sockets = new Set();
const report = () => process.stdout.write(`${JSON.stringify(state)}\n`);

function openOne() {
  return new Promise((resolve) => {
    const socket = connect(options);
    let answered = false;
    socket.setNoDelay(true);
    socket.on('secureConnect', () => socket.write(request));
    socket.on('data', () => {
      if (answered) return;
      answered = true;
      state.open++;
      sockets.add(socket);
      const t = setInterval(() => socket.write(request), PING_MS + Math.random() * 2000);
      socket.once('close', () => clearInterval(t));
      resolve();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (!answered) {
        state.failed++;
        resolve();
      } else {
        state.closed++;
        sockets.delete(socket);
      }
    });
  });
}

let next = 0;
const timer = setInterval(report, 500);
await Promise.all(
  Array.from({ length: 32 }, async () => {
    while (next < count) {
      next++;
      await openOne();
    }
  }),
);
state.done = true;
report();
clearInterval(timer);
setInterval(report, 1000);
process.on('SIGTERM', () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});
