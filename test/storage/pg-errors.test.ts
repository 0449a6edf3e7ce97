import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  StorageError,
  StorageFencedError,
  StorageUnavailableError,
} from '../../src/storage/errors.js';
import { connectionSuspect, toStorageError } from '../../src/storage/postgres/pg-errors.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('toStorageError (PostgreSQL failures as storage errors)', () => {
  it.each([
    ['refused', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['reset', withCode('read ECONNRESET', 'ECONNRESET')],
    ['fast shutdown', withCode('terminating connection due to administrator command', '57P01')],
    ['starting up', withCode('the database system is starting up', '57P03')],
    ['connection class', withCode('connection failure', '08006')],
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
    expect((mapped as StorageUnavailableError).outcomeUnknown).toBe(true);
  });

  it.each([
    ['serialization', '40001'],
    ['deadlock', '40P01'],
    ['statement_timeout', '57014'],
    ['lock_timeout', '55P03'],
  ])('%s is a rollback: retryable, outcome known', (_name, code) => {
    const err = withCode('rolled back', code);
    const mapped = toStorageError(err, 'append');
    expect(mapped).toBeInstanceOf(StorageUnavailableError);
    expect((mapped as StorageUnavailableError).outcomeUnknown).toBe(false);
  });

  it('drops a connection only when it is suspect', () => {
    const dbError = (code: string) =>
      Object.assign(new pg.DatabaseError('x', 1, 'error'), { code });
    expect(connectionSuspect(dbError('22021'))).toBe(false); // bad byte sequence
    expect(connectionSuspect(dbError('23505'))).toBe(false); // unique violation
    expect(connectionSuspect(dbError('40001'))).toBe(false);
    expect(connectionSuspect(dbError('57P01'))).toBe(true); // the server is going away
    expect(connectionSuspect(new Error('Query read timeout'))).toBe(true);
    expect(connectionSuspect(withCode('read ECONNRESET', 'ECONNRESET'))).toBe(true);
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
