import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import getRawBody from 'raw-body';
import { ProblemException } from './problem';

export interface JsonBodyLimits {
  /** Bytes of body (413 above). */
  maxBytes: number;
  /** Nesting of arrays and objects (400 above). */
  maxDepth: number;
  /** Object keys plus array elements in the whole document (400 above). */
  maxMembers: number;
  /** Keys of any one object (400 above): no DTO has more than a dozen. */
  maxKeys: number;
}

/** The verdict of {@link scanJson}: undefined when the text may go to JSON.parse. */
export type ScanFailure = 'depth' | 'members' | 'keys' | 'control';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** `\u00XX` with XX a C0 control (other than TAB, LF, CR), DEL or a C1 control. */
function isControlEscape(text: string, i: number): boolean {
  // text[i] is the `u` after a backslash.
  if (text.charCodeAt(i + 1) !== 0x30 || text.charCodeAt(i + 2) !== 0x30) return false;
  const hi = text.charCodeAt(i + 3);
  const lo = text.charCodeAt(i + 4) | 0x20; // lower-case a hex letter
  const loValue = lo >= 0x30 && lo <= 0x39 ? lo - 0x30 : lo >= 0x61 && lo <= 0x66 ? lo - 0x57 : -1;
  if (loValue < 0) return false;
  if (hi === 0x30) return loValue !== 0x9 && loValue !== 0xa && loValue !== 0xd;
  if (hi === 0x31) return true;
  if (hi === 0x38 || hi === 0x39) return true; // U+0080–U+009F
  return hi === 0x37 && loValue === 0xf;
}

/**
 * One linear pass over the raw text before JSON.parse sees it (docs/auth.md → Request limits):
 * nesting depth and the number of members are counted outside strings, and a string escape that
 * decodes to a control character is refused (PostgreSQL rejects NUL, and no text field needs
 * the others). JSON.parse itself is fast, but what comes after it — class-transformer and
 * class-validator walk every member, recursively — is where a deep or wide document costs
 * seconds or overflows the stack; this pass stops at the first byte over a limit.
 */
export function scanJson(text: string, limits: JsonBodyLimits): ScanFailure | undefined {
  let depth = 0;
  let members = 0;
  let inString = false;
  // Per open container: its key count, or -1 for an array (commas there are elements).
  const keys = new Int32Array(limits.maxDepth + 2);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      // Raw C0 bytes are not JSON (JSON.parse refuses them); raw DEL and C1 controls are.
      if (c === 0x7f || (c >= 0x80 && c <= 0x9f)) return 'control';
      if (c === BACKSLASH) {
        if (text.charCodeAt(i + 1) === 0x75 && isControlEscape(text, i + 1)) return 'control';
        i++; // skip the escaped character (a quote or backslash does not end anything)
      } else if (c === QUOTE) inString = false;
      continue;
    }
    switch (c) {
      case QUOTE:
        inString = true;
        break;
      case 0x5b: // [
      case 0x7b: // {
        if (++depth > limits.maxDepth) return 'depth';
        keys[depth] = c === 0x7b ? 1 : -1;
        // The first member of a container; every further one follows a comma.
        if (++members > limits.maxMembers) return 'members';
        break;
      case 0x5d: // ]
      case 0x7d: // }
        depth--;
        break;
      case 0x2c: // ,
        if (++members > limits.maxMembers) return 'members';
        if (keys[depth] > 0 && ++keys[depth] > limits.maxKeys) return 'keys';
        break;
    }
  }
  return undefined;
}

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

function isJson(type: string): boolean {
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

export function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * Reads and checks one JSON body: it must be JSON (415 otherwise), at most `maxBytes` (413,
 * counted while reading), UTF-8, and within the depth and member limits (400, before parsing).
 * Parse errors never quote the body back. Resolves to the parsed document, undefined without a
 * body; rejects with a {@link ProblemException}.
 */
export async function readJsonBody(req: IncomingMessage, limits: JsonBodyLimits): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  const type = mediaType(req);
  if (!isJson(type)) {
    throw new ProblemException(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'The request body must be application/json',
    );
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1];
  if (charset && !/^utf-?8$/i.test(charset)) {
    throw new ProblemException(415, 'UNSUPPORTED_MEDIA_TYPE', 'JSON bodies must be UTF-8');
  }
  let text: string;
  try {
    text = await getRawBody(req, { limit: limits.maxBytes, encoding: 'utf-8' });
  } catch (err) {
    const e = err as { type?: string; status?: number };
    // Answer once the client has finished sending (as body-parser does): answering mid-upload
    // resets the connection before the client reads the problem document.
    await drained(req);
    if (e.type === 'entity.too.large') {
      throw new ProblemException(
        413,
        'PAYLOAD_TOO_LARGE',
        `The request body may be at most ${limits.maxBytes} bytes`,
      );
    }
    // Aborted or malformed transfer: the client is gone or broke the framing.
    throw bodyProblem('the request body could not be read');
  }
  const failure = scanJson(text, limits);
  if (failure) throw scanProblem(failure, limits);
  try {
    return text.trim() === '' ? {} : (JSON.parse(text) as unknown);
  } catch {
    // Never JSON.parse's message: it quotes the text around the error.
    throw bodyProblem('is not valid JSON');
  }
}

/**
 * The API's only body parser (Fastify's own are removed, see bootstrap.ts): one catch-all
 * content-type parser, so every body, whatever its declared type, goes through
 * {@link readJsonBody}. Routes in `rawRoutes` (the local driver's upload target) get the request
 * stream untouched: their handler reads `request.raw` itself.
 */
export function registerJsonBody(
  fastify: FastifyInstance,
  limits: JsonBodyLimits,
  rawRoutes: string[] = [],
): void {
  const raw = new Set(rawRoutes);
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (request: FastifyRequest, _payload, done) => {
    if (raw.has(request.routeOptions.url ?? '')) return done(null, undefined);
    readJsonBody(request.raw, limits).then(
      (body) => done(null, body),
      // A closed connection has nobody left to answer: the client went away, or the body
      // deadline already answered 408 and closed it (request-deadline.ts). (Not
      // `request.raw.destroyed`: a request is destroyed once its body has been read.)
      (err: Error) => (request.raw.socket?.destroyed === false ? done(err, undefined) : undefined),
    );
  });
}

/** 400 VALIDATION_FAILED (the code the app already handles for a bad body), field `body`. */
function bodyProblem(message: string): ProblemException {
  return ProblemException.validation(
    [{ field: 'body', message }],
    `The request body ${message.startsWith('is ') ? message : 'is refused: ' + message}`,
  );
}

function drained(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    req.once('end', resolve);
    req.once('close', resolve);
    req.resume();
  });
}

function scanProblem(failure: ScanFailure, limits: JsonBodyLimits): ProblemException {
  switch (failure) {
    case 'depth':
      return bodyProblem(`nests more than ${limits.maxDepth} levels`);
    case 'members':
      return bodyProblem(`has more than ${limits.maxMembers} keys and array elements`);
    case 'keys':
      return bodyProblem(`has an object with more than ${limits.maxKeys} keys`);
    case 'control':
      return controlCharacterProblem('body');
  }
}

/** Control characters: C0 except TAB, LF, CR, and DEL. */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
/** The same, percent-encoded in a URL (any C0 there, including TAB/LF/CR, and DEL). */
const ENCODED_CONTROL = /%(?:[01][0-9a-f]|7f)/i;

export function controlCharacterProblem(where: string): ProblemException {
  return ProblemException.validation(
    [{ field: where, message: 'must not contain control characters' }],
    'The request contains control characters',
  );
}

/**
 * Path and query with a (percent-encoded) control character: 400 before any route sees them (an
 * `onRequest` hook, so unknown routes too).
 */
export function rejectControlCharactersInUrl(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: (err?: Error) => void,
): void {
  const url = request.raw.url ?? '';
  if (ENCODED_CONTROL.test(url) || CONTROL_CHARACTERS.test(url)) {
    const q = url.indexOf('?');
    const inQuery =
      q >= 0 && (ENCODED_CONTROL.test(url.slice(q)) || CONTROL_CHARACTERS.test(url.slice(q)));
    return done(controlCharacterProblem(inQuery ? 'query' : 'path'));
  }
  done();
}
