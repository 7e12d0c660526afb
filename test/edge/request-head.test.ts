// The strict request-head reader used on connections the edge refuses whatever they ask.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_HEAD_BYTES, readRequestHead } from '../../src/edge/request-head.js';

const read = (s: string) => readRequestHead(Buffer.from(s, 'latin1'));

describe('readRequestHead', () => {
  test('method, target, Host and Accept (several Accept lines joined); the body is not its business', () => {
    assert.deepEqual(
      read(
        '\r\nPOST /a?b=1 HTTP/1.1\r\nHost: Edge.Test\r\naccept: text/html\r\nAccept: application/json\r\n\r\nbody',
      ),
      {
        kind: 'request',
        method: 'POST',
        target: '/a?b=1',
        host: 'Edge.Test',
        accept: 'text/html, application/json',
      },
    );
    assert.deepEqual(read('GET / HTTP/1.0\r\n\r\n'), { kind: 'request', method: 'GET', target: '/' });
  });

  test('incomplete until the blank line, too large past the header limit', () => {
    assert.deepEqual(read('GET / HTTP/1.1\r\nhost: a\r\n'), { kind: 'incomplete' });
    assert.deepEqual(read(`GET / HTTP/1.1\r\nx: ${'a'.repeat(MAX_HEAD_BYTES)}`), { kind: 'too_large' });
    assert.deepEqual(read(`GET / HTTP/1.1\r\nx: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`), {
      kind: 'too_large',
    });
  });

  test('anything unusual is malformed', () => {
    for (const raw of [
      'GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n', // two Hosts
      'GET / HTTP/1.1\r\nhost: a\r\nx: 1\r\n folded\r\n\r\n', // obs-fold
      'GET / HTTP/1.1\r\nbad header: 1\r\n\r\n',
      'GET / HTTP/1.1\r\nx: a\nb\r\n\r\n', // bare LF in a value
      'GET / HTTP/1.1\r\nx: a\x00b\r\n\r\n',
      'GET / HTTP/2.0\r\n\r\n',
      'GET /a b HTTP/1.1\r\n\r\n',
      'G@T / HTTP/1.1\r\n\r\n',
      '\x16\x03\x01\r\n\r\n',
    ])
      assert.deepEqual(read(raw), { kind: 'malformed' }, JSON.stringify(raw));
  });
});
