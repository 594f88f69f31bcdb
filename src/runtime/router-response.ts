import { BaseError } from '../core/index.ts';

/**
 * An incremental, strict parser of the HTTP/1.1 responses a backend sends the router (RFC 9112 §4–7): the status
 * line, the header section, then the body framed by `Transfer-Encoding: chunked`, `Content-Length`, or the close of
 * the connection. Interim 1xx responses are skipped. What the router must not pass on or cannot frame is refused
 * with a ResponseError: bare LF line ends, whitespace before a colon, folded lines, control characters in values,
 * unequal repeated `Content-Length`s, oversized heads and chunk lines, and bytes after a complete response.
 * One parser serves every response of one connection, in turn.
 */
export class ResponseError extends BaseError<'INVALID_RESPONSE'> {}

export interface ResponseHandler {
  /** The final status and the header fields as `[name, value, …]` (names as sent, values trimmed). */
  onHead(status: number, rawHeaders: string[]): void;
  /** A piece of the decoded body (chunk framing removed); it may share memory with the input. */
  onBody(chunk: Buffer): void;
  /** The response is complete; `reusable` says whether the connection may carry another request. */
  onComplete(reusable: boolean): void;
}

/** Head and trailer sections larger than this are refused (Node's own limit is 16 KiB). */
const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line with its extensions. */
const MAX_CHUNK_LINE_BYTES = 4 * 1024;

const IDLE = 0;
const HEAD = 1;
const LENGTH = 2;
const CHUNK_SIZE = 3;
const CHUNK_DATA = 4;
const CHUNK_CRLF = 5;
const TRAILERS = 6;
const UNTIL_CLOSE = 7;

// biome-ignore lint/suspicious/noControlCharactersInRegex: RFC 9110 §5.5 forbids these in field values
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\x00-\x08\x0a-\x1f\x7f]*)?$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: RFC 9110 §5.5 forbids these in field values
const FIELD_VALUE_CTL = /[\x00-\x08\x0a-\x1f\x7f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: RFC 9110 §5.5 forbids these in field values
const CHUNK_LINE = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?$/;
const KEEP_ALIVE_TIMEOUT = /(?:^|[,;\s])timeout=(\d{1,9})/i;

const invalid = (message: string): ResponseError => new ResponseError('INVALID_RESPONSE', message);

export class ResponseParser {
  readonly #handler: ResponseHandler;
  #state = IDLE;
  /** Bumped by `expect` and `reset`, so a loop learns that a handler callback reset the parser under it. */
  #generation = 0;
  #headOnly = false;
  /** Bytes of an unfinished head, chunk-size line or trailer section. */
  #pending: Buffer | undefined;
  #remaining = 0;
  #reusable = true;
  #trailerBytes = 0;
  #received = false;
  #keepAliveMs: number | undefined;

  constructor(handler: ResponseHandler) {
    this.#handler = handler;
  }

  /** Whether any byte of the current response arrived. */
  get received(): boolean {
    return this.#received;
  }

  /** Whether the current response reads until the connection closes (then `finish` completes it). */
  get untilClose(): boolean {
    return this.#state === UNTIL_CLOSE;
  }

  /** The backend's `Keep-Alive: timeout=` of the last response in ms, when it announced one. */
  get keepAliveMs(): number | undefined {
    return this.#keepAliveMs;
  }

  /** Starts on the response to a request just sent; `headOnly` for HEAD, whose response has no body. */
  expect(headOnly: boolean): void {
    this.#generation++;
    this.#state = HEAD;
    this.#headOnly = headOnly;
    this.#pending = undefined;
    this.#reusable = true;
    this.#received = false;
    this.#keepAliveMs = undefined;
  }

  /** Forgets the current response (the caller gave up on it). */
  reset(): void {
    this.#generation++;
    this.#state = IDLE;
    this.#pending = undefined;
  }

  /** The connection closed: completes a response read until close, and says whether it did. */
  finish(): boolean {
    if (this.#state !== UNTIL_CLOSE) return false;
    this.#state = IDLE;
    this.#handler.onComplete(false);
    return true;
  }

  /** Feeds bytes from the connection; throws ResponseError on a malformed response or unsolicited bytes. */
  execute(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.#state === IDLE) throw invalid('Cannot read bytes the backend sent without a request');
    this.#received = true;
    let buf = chunk;
    let at = 0;
    if (this.#pending !== undefined) {
      buf = Buffer.concat([this.#pending, chunk]);
      this.#pending = undefined;
    }
    const generation = this.#generation;
    while (at < buf.length && this.#state !== IDLE) {
      if (this.#generation !== generation) return;
      switch (this.#state) {
        case HEAD:
          at = this.#head(buf, at, chunk.length);
          break;
        case LENGTH: {
          const n = Math.min(this.#remaining, buf.length - at);
          this.#remaining -= n;
          this.#handler.onBody(buf.subarray(at, at + n));
          at += n;
          if (this.#remaining === 0) this.#complete(buf, at);
          break;
        }
        case CHUNK_SIZE:
          at = this.#chunkSize(buf, at);
          break;
        case CHUNK_DATA: {
          const n = Math.min(this.#remaining, buf.length - at);
          this.#remaining -= n;
          this.#handler.onBody(buf.subarray(at, at + n));
          at += n;
          if (this.#remaining === 0) {
            this.#state = CHUNK_CRLF;
            this.#remaining = 2;
          }
          break;
        }
        case CHUNK_CRLF:
          if (buf[at] !== (this.#remaining === 2 ? 0x0d : 0x0a))
            throw invalid('Cannot read the chunked body: no CRLF after a chunk');
          at++;
          if (--this.#remaining === 0) this.#state = CHUNK_SIZE;
          break;
        case TRAILERS:
          at = this.#trailers(buf, at);
          break;
        case UNTIL_CLOSE:
          this.#handler.onBody(at === 0 ? buf : buf.subarray(at));
          at = buf.length;
          break;
      }
    }
  }

  /** Parses a head once it is whole; returns where the body starts (or `buf.length` while the head is partial). */
  #head(buf: Buffer, at: number, fresh: number): number {
    // Only the new bytes (and the 3 before them) can complete the CRLFCRLF.
    const end = buf.indexOf('\r\n\r\n', Math.max(at, buf.length - fresh - 3), 'latin1');
    if (end === -1) {
      if (buf.length - at > MAX_HEAD_BYTES) throw invalid(`Cannot read a response head over ${MAX_HEAD_BYTES} bytes`);
      this.#pending = buf.subarray(at);
      return buf.length;
    }
    if (end - at > MAX_HEAD_BYTES) throw invalid(`Cannot read a response head over ${MAX_HEAD_BYTES} bytes`);
    const lines = buf.toString('latin1', at, end).split('\r\n');
    const statusLine = STATUS_LINE.exec(lines[0] as string);
    if (statusLine === null) throw invalid(`Cannot read the status line ${JSON.stringify(lines[0]?.slice(0, 80))}`);
    const status = Number(statusLine[2]);
    const raw: string[] = [];
    let length: string | undefined;
    let encoding: string | undefined;
    let connection = '';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      const name = colon === -1 ? '' : line.slice(0, colon);
      if (!TOKEN.test(name)) throw invalid(`Cannot read the header line ${JSON.stringify(line.slice(0, 80))}`);
      const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
      if (FIELD_VALUE_CTL.test(value))
        throw invalid(`Cannot pass on header ${name}: its value holds a control character`);
      raw.push(name, value);
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        length = length === undefined ? value : `${length},${value}`;
      } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
        encoding = encoding === undefined ? value : `${encoding},${value}`;
      } else if (name.length === 10) {
        const lower = name.toLowerCase();
        if (lower === 'connection') connection += `,${value.toLowerCase()}`;
        else if (lower === 'keep-alive') {
          const hint = KEEP_ALIVE_TIMEOUT.exec(value)?.[1];
          if (hint !== undefined) this.#keepAliveMs = Number(hint) * 1000;
        }
      }
    }
    at = end + 4;
    if (status < 200) {
      if (status === 101) throw invalid('Cannot proxy a protocol switch (101) from the backend');
      return at; // interim: the final response follows (RFC 9110 §15.2)
    }
    const tokens = connection.split(',').map((t) => t.trim());
    this.#reusable = statusLine[1] === '1' ? !tokens.includes('close') : tokens.includes('keep-alive');
    this.#handler.onHead(status, raw);
    if (this.#headOnly || status === 204 || status === 304) {
      this.#complete(buf, at);
      return at;
    }
    if (encoding !== undefined) {
      // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and such a connection is not reused.
      if (length !== undefined) this.#reusable = false;
      const codings = encoding.toLowerCase().split(',');
      if ((codings[codings.length - 1] as string).trim() === 'chunked') {
        this.#state = CHUNK_SIZE;
      } else {
        this.#state = UNTIL_CLOSE;
        this.#reusable = false;
      }
      return at;
    }
    if (length !== undefined) {
      const values = new Set(length.split(',').map((v) => v.trim()));
      const [only] = values;
      if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) {
        throw invalid(`Cannot frame the body: Content-Length ${JSON.stringify(length.slice(0, 80))}`);
      }
      this.#remaining = Number(only);
      if (this.#remaining === 0) this.#complete(buf, at);
      else this.#state = LENGTH;
      return at;
    }
    this.#state = UNTIL_CLOSE;
    this.#reusable = false;
    return at;
  }

  #chunkSize(buf: Buffer, at: number): number {
    const eol = buf.indexOf('\r\n', at, 'latin1');
    if (eol === -1) {
      if (buf.length - at > MAX_CHUNK_LINE_BYTES) throw invalid('Cannot read the chunked body: chunk line too long');
      this.#pending = buf.subarray(at);
      return buf.length;
    }
    const line = buf.toString('latin1', at, eol);
    const size = CHUNK_LINE.exec(line)?.[1];
    if (size === undefined) throw invalid(`Cannot read the chunk size ${JSON.stringify(line.slice(0, 40))}`);
    this.#remaining = Number.parseInt(size, 16);
    if (this.#remaining === 0) {
      this.#state = TRAILERS;
      this.#trailerBytes = 0;
    } else {
      this.#state = CHUNK_DATA;
    }
    return eol + 2;
  }

  /** Reads (and drops) trailer fields up to the empty line that ends the message. */
  #trailers(buf: Buffer, at: number): number {
    for (;;) {
      const eol = buf.indexOf('\r\n', at, 'latin1');
      if (eol === -1) {
        if (this.#trailerBytes + buf.length - at > MAX_HEAD_BYTES) throw invalid('Cannot read trailers that large');
        this.#pending = buf.subarray(at);
        return buf.length;
      }
      this.#trailerBytes += eol + 2 - at;
      if (this.#trailerBytes > MAX_HEAD_BYTES) throw invalid('Cannot read trailers that large');
      if (eol === at) {
        this.#complete(buf, eol + 2);
        return eol + 2;
      }
      const line = buf.toString('latin1', at, eol);
      const colon = line.indexOf(':');
      if (colon === -1 || !TOKEN.test(line.slice(0, colon))) {
        throw invalid(`Cannot read the trailer line ${JSON.stringify(line.slice(0, 80))}`);
      }
      at = eol + 2;
    }
  }

  /** Bytes after the end of the response were not asked for: the connection is not reused. */
  #complete(buf: Buffer, at: number): void {
    this.#state = IDLE;
    this.#handler.onComplete(this.#reusable && at === buf.length);
  }
}
