// The test helper's Browser: cookies (path, expiry, SameSite across redirect chains), redirects
// and forms, against two local servers standing for two sites.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Browser, parseForm } from '../../helpers/oidc-provider.js';

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

describe('test Browser', () => {
  let app: Server;
  let idp: Server;
  let appUrl: string;
  let idpUrl: string;

  before(async () => {
    app = await listen((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/set') {
        res.setHeader('set-cookie', [
          'strict=s; Path=/; SameSite=Strict',
          'lax=l; Path=/; SameSite=Lax',
          'scoped=p; Path=/only',
          'gone=g; Path=/',
        ]);
        res.end('set');
      } else if (url.pathname === '/clear') {
        res.setHeader('set-cookie', 'gone=; Path=/; Max-Age=0');
        res.end('cleared');
      } else if (url.pathname === '/form') {
        res.end('<form method="post" action="/echo"><input type="hidden" name="a" value="1 &amp; 2"></form>');
      } else {
        let body = '';
        req.on('data', (d: Buffer) => (body += d));
        req.on('end', () =>
          res.end(JSON.stringify({ path: url.pathname, cookie: req.headers.cookie ?? '', body })),
        );
      }
    });
    // "localhost" is another site than "127.0.0.1" for cookies and SameSite.
    idp = await listen((req, res) => {
      res.writeHead(302, { location: `${appUrl}/echo` });
      res.end();
    });
    appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    idpUrl = `http://localhost:${(idp.address() as AddressInfo).port}`;
  });
  after(() => {
    app.close();
    idp.close();
    app.closeAllConnections();
    idp.closeAllConnections();
  });

  const echo = (body: string) => JSON.parse(body) as { path: string; cookie: string; body: string };

  test('cookies: path scoping, expiry, SameSite after a cross-site redirect', async () => {
    const b = new Browser();
    await b.navigate(`${appUrl}/set`);
    assert.equal(echo((await b.navigate(`${appUrl}/echo`)).body).cookie, 'strict=s; lax=l; gone=g');
    assert.match(echo((await b.navigate(`${appUrl}/only/x`)).body).cookie, /scoped=p/);
    // Coming back from another site: Strict withheld, Lax sent (top-level GET).
    const back = await b.navigate(`${idpUrl}/authorize`);
    assert.deepEqual(back.visited, [`${idpUrl}/authorize`, `${appUrl}/echo`]);
    assert.equal(echo(back.body).cookie, 'lax=l; gone=g');
    await b.navigate(`${appUrl}/clear`);
    assert.equal(echo((await b.navigate(`${appUrl}/echo`)).body).cookie, 'strict=s; lax=l');
    assert.equal(b.jar.get('lax'), 'l');
  });

  test('stopAt leaves the redirect target unrequested; forms are submitted with decoded values', async () => {
    const b = new Browser();
    const stopped = await b.navigate(`${idpUrl}/authorize`, { stopAt: (u) => u.pathname === '/echo' });
    assert.equal(stopped.stopped, true);
    assert.equal(stopped.url, `${appUrl}/echo`);
    assert.equal(stopped.status, 302);
    const page = await b.navigate(`${appUrl}/form`);
    assert.deepEqual(parseForm(page.body), { action: '/echo', method: 'POST', fields: { a: '1 & 2' } });
    const posted = await b.submitForm(page, { b: 'x' });
    assert.equal(echo(posted.body).body, 'a=1+%26+2&b=x');
  });
});
