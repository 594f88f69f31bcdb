import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ResponseError, ResponseParser } from './router-response.ts';

interface Parsed {
  status: number;
  headers: string[];
  body: string;
  reusable: boolean | undefined;
}

/** Parses `wire` fed in pieces of `step` bytes (every split point when step is 1). */
function parse(wire: string, options: { step?: number; headOnly?: boolean; close?: boolean } = {}): Parsed {
  const out: Parsed = { status: 0, headers: [], body: '', reusable: undefined };
  const parser = new ResponseParser({
    onHead: (status, raw) => {
      out.status = status;
      out.headers = raw;
    },
    onBody: (chunk) => {
      out.body += chunk.toString('latin1');
    },
    onComplete: (reusable) => {
      assert.equal(out.reusable, undefined, 'completed twice');
      out.reusable = reusable;
    },
  });
  parser.expect(options.headOnly ?? false);
  const bytes = Buffer.from(wire, 'latin1');
  const step = options.step ?? bytes.length;
  for (let at = 0; at < bytes.length; at += step) parser.execute(bytes.subarray(at, at + step));
  if (options.close) parser.finish();
  return out;
}

const everySplit = (wire: string, check: (p: Parsed) => void): void => {
  for (const step of [wire.length, 1, 2, 3, 7]) check(parse(wire, { step }));
};

describe('ResponseParser', () => {
  test('ResponseParser reads a Content-Length body at every split point', () => {
    everySplit('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  spaced \t\r\n\r\nhello', (p) => {
      assert.equal(p.status, 200);
      assert.deepEqual(p.headers, ['Content-Length', '5', 'X-A', 'spaced']);
      assert.equal(p.body, 'hello');
      assert.equal(p.reusable, true);
    });
  });

  test('ResponseParser decodes a chunked body with extensions and trailers at every split point', () => {
    const wire =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n';
    everySplit(wire, (p) => {
      assert.equal(p.body, 'hello 0123456789');
      assert.equal(p.reusable, true);
    });
  });

  test('ResponseParser reads a body without framing until the connection closes, and never reuses it', () => {
    const p = parse('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it', { step: 4, close: true });
    assert.equal(p.body, 'all of it');
    assert.equal(p.reusable, false);
    const chunkedUnderGzip = parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nraw', { close: true });
    assert.equal(chunkedUnderGzip.body, 'raw');
    assert.equal(chunkedUnderGzip.reusable, false);
  });

  test('ResponseParser skips interim 1xx responses', () => {
    everySplit(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
      (p) => {
        assert.equal(p.status, 201);
        assert.deepEqual(p.headers, ['Content-Length', '2']);
        assert.equal(p.body, 'ok');
      },
    );
  });

  test('ResponseParser knows responses without a body: HEAD, 204 and 304', () => {
    assert.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n', { headOnly: true }).reusable, true);
    assert.equal(parse('HTTP/1.1 204 No Content\r\n\r\n').reusable, true);
    assert.equal(parse('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n').reusable, true);
    assert.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').reusable, true);
  });

  test('ResponseParser keeps a connection only when HTTP/1.x says it persists', () => {
    assert.equal(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').reusable, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').reusable, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n').reusable, true);
    // Transfer-Encoding beside Content-Length: the chunked framing wins, and the connection is not trusted again.
    const both = parse(
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    );
    assert.equal(both.body, 'ok');
    assert.equal(both.reusable, false);
    // Bytes after the response were not asked for.
    assert.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200').reusable, false);
  });

  test('ResponseParser reads the Keep-Alive timeout hint', () => {
    const parser = new ResponseParser({ onHead() {}, onBody() {}, onComplete() {} });
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n'));
    assert.equal(parser.keepAliveMs, 5000);
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    assert.equal(parser.keepAliveMs, undefined);
  });

  test('ResponseParser refuses what it cannot pass on safely', () => {
    const refused: Array<[string, RegExp]> = [
      ['HTTP/2 200 OK\r\n\r\n', /status line/],
      ['HTTP/1.1 20 OK\r\n\r\n', /status line/],
      ['HTTP/1.1 200 OK\nContent-Length: 0\n\n\r\n\r\n', /status line/],
      ['HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n', /header line/],
      ['HTTP/1.1 200 OK\r\nX-A : x\r\n\r\n', /header line/],
      ['HTTP/1.1 200 OK\r\nX-A: x\r\n folded\r\n\r\n', /header line/],
      ['HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n\r\n', /control character/],
      ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', /Content-Length/],
      ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /Content-Length/],
      ['HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n', /Content-Length/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /chunk size/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n', /CRLF/],
      ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', /protocol switch/],
      [`HTTP/1.1 200 OK\r\nX-Big: ${'x'.repeat(70_000)}`, /head over/],
    ];
    for (const [wire, message] of refused) {
      assert.throws(
        () => parse(wire),
        (err: unknown) => err instanceof ResponseError && message.test(err.message),
        wire.slice(0, 60),
      );
    }
    // Repeated equal lengths are one length (RFC 9110 §8.6).
    assert.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok').body, 'ok');
  });

  test('ResponseParser refuses bytes when no request is waiting, and stops after reset()', () => {
    const parser = new ResponseParser({
      onHead() {},
      onBody() {
        parser.reset();
      },
      onComplete() {
        assert.fail('a reset response does not complete');
      },
    });
    assert.throws(() => parser.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\n')), /without a request/);
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n'));
    assert.equal(parser.untilClose, false);
  });
});
