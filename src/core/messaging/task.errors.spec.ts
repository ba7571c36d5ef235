import { PermanentTaskError, RetryableTaskError, errorCode, isTransient } from './task.errors';

describe('isTransient: what deserves a delayed retry', () => {
  it.each([
    [new RetryableTaskError('VISION_UNAVAILABLE', '503'), true],
    [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }),
      true,
    ],
    [
      Object.assign(new Error('Reached the max retries per request limit'), {
        name: 'MaxRetriesPerRequestError',
      }),
      true,
    ],
    [new Error('Connection is closed.'), true],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), true],
    [new Error('Driver not Connected'), true],
    [
      Object.assign(new Error('terminating connection due to administrator command'), {
        code: '57P01',
      }),
      true,
    ],
    [Object.assign(new Error('query failed'), { driverError: { code: '08006' } }), true],
    [Object.assign(new Error('could not serialize access'), { code: '40001' }), true],
    [new PermanentTaskError('INVALID_IMAGE', 'not an image'), false],
    [new TypeError("Cannot read properties of undefined (reading 'x')"), false],
    [Object.assign(new Error('duplicate key value'), { code: '23505' }), false],
  ])('%s → %s', (err, expected) => {
    expect(isTransient(err)).toBe(expected);
  });

  it('codes: ours when given, INTERNAL_ERROR otherwise', () => {
    expect(errorCode(new PermanentTaskError('INVALID_IMAGE', 'x'))).toBe('INVALID_IMAGE');
    expect(errorCode(new Error('boom'))).toBe('INTERNAL_ERROR');
    expect(errorCode(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe('ECONNRESET');
  });
});
