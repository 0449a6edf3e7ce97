import { describe, expect, it } from 'vitest';
import {
  StorageError,
  StorageFencedError,
  StorageUnavailableError,
} from '../../src/storage/errors.js';
import { toStorageError } from '../../src/storage/postgres/pg-errors.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('toStorageError (PostgreSQL failures as storage errors)', () => {
  it.each([
    ['refused', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['reset', withCode('read ECONNRESET', 'ECONNRESET')],
    ['fast shutdown', withCode('terminating connection due to administrator command', '57P01')],
    ['starting up', withCode('the database system is starting up', '57P03')],
    ['connection class', withCode('connection failure', '08006')],
    ['serialization', withCode('could not serialize access', '40001')],
    ['pool wait', new Error('timeout exceeded when trying to connect')],
    ['query_timeout', new Error('Query read timeout')],
    ['lost socket', new Error('Connection terminated unexpectedly')],
    [
      'lost between queries',
      new Error('Client has encountered a connection error and is not queryable'),
    ],
  ])('%s is unavailable (outcome unknown)', (_name, err) => {
    const mapped = toStorageError(err, 'append');
    expect(mapped).toBeInstanceOf(StorageUnavailableError);
    expect(mapped.code).toBe('storage_unavailable');
    expect(mapped.cause).toBe(err);
  });

  it('keeps other server errors plain, and storage errors as they are', () => {
    const syntax = toStorageError(withCode('syntax error', '42601'), 'append');
    expect(syntax).toBeInstanceOf(StorageError);
    expect(syntax).not.toBeInstanceOf(StorageUnavailableError);
    expect(syntax.code).toBe('storage_error');
    const fenced = new StorageFencedError('id', 3);
    expect(toStorageError(fenced, 'append')).toBe(fenced);
  });
});
