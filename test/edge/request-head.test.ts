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

  test('long runs of blanks cost linear time (the reader once used a cubic regex: a ReDoS)', () => {
    const blanks = ' \t'.repeat((MAX_HEAD_BYTES - 100) / 2);
    // Each of these took minutes with the backtracking pattern; now they return at once.
    assert.deepEqual(read(`GET / HTTP/1.1\r\nx:${blanks}\x01\r\n\r\n`), { kind: 'malformed' });
    assert.deepEqual(
      read(
        `GET / HTTP/1.1\r\nhost: a\r\nx:${blanks.slice(0, blanks.length / 2)}y${blanks.slice(0, blanks.length / 2)}\r\n\r\n`,
      ),
      {
        kind: 'request',
        method: 'GET',
        target: '/',
        host: 'a',
      },
    );
  });

  test('a bare LF is malformed at once, without waiting for CRLF CRLF', () => {
    assert.deepEqual(read('GET / HTTP/1.1\nhost: a\n'), { kind: 'malformed' });
    assert.deepEqual(read('GET / HTTP/1.1\r\nhost: a\n\n'), { kind: 'malformed' });
  });

  test('a head read in pieces: each call looks only at the new bytes (and the 3 before)', () => {
    const raw = Buffer.from('GET /x HTTP/1.1\r\nhost: a\r\n\r\n', 'latin1');
    let result = readRequestHead(raw.subarray(0, 1));
    for (let n = 2; n <= raw.length; n++) {
      assert.equal(result.kind, 'incomplete');
      result = readRequestHead(raw.subarray(0, n), n - 1);
    }
    assert.deepEqual(result, { kind: 'request', method: 'GET', target: '/x', host: 'a' });
    // A CRLF split over two pieces is not a bare LF.
    assert.equal(readRequestHead(Buffer.from('GET / HTTP/1.1\r\n', 'latin1'), 15).kind, 'incomplete');
  });
});
