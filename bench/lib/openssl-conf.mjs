// An OpenSSL configuration that turns TLS 1.3 session tickets off for real.
//
// Neither nginx's `ssl_session_tickets off` nor Node's SSL_OP_NO_TICKET stops TLS 1.3 tickets:
// with that option OpenSSL 3 still sends two *stateful* tickets after every full handshake,
// and building them (serialising the session, client certificate included) is a large part of
// a handshake's server CPU (shared notes: ~30% in nginx's profile). SSL_CTX_set_num_tickets(0)
// does stop them, but nginx 1.22 has no directive for it and Node 20 no option; OpenSSL's
// system-default SSL configuration (`NumTickets = 0`, applied to every SSL_CTX) reaches both.
// Node reads the `nodejs_conf` section of $OPENSSL_CONF, nginx the `openssl_conf` one.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function writeNoTicketsConf(dir) {
  const file = join(dir, 'openssl-no-tickets.cnf');
  writeFileSync(
    file,
    `# Written by bench/lib/openssl-conf.mjs
openssl_conf = bench_init
nodejs_conf = bench_init

[bench_init]
ssl_conf = bench_ssl

[bench_ssl]
system_default = bench_system_default

[bench_system_default]
NumTickets = 0
`,
  );
  return file;
}
