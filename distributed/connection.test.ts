import { parseQueueUrl } from './connection';

describe('parseQueueUrl', () => {
  it('takes host, port and database', () => {
    const t = parseQueueUrl('redis://127.0.0.1:6400/2', {});
    expect(t.connection).toMatchObject({ host: '127.0.0.1', port: 6400, db: 2 });
    expect(t.connection).not.toHaveProperty('tls');
    expect(t.connection).not.toHaveProperty('password');
  });

  it('turns rediss:// into TLS and keeps the password out of the display form', () => {
    const t = parseQueueUrl('rediss://worker:s%40cret@queue.example:6380', {});
    expect(t.connection).toMatchObject({ host: 'queue.example', port: 6380, username: 'worker', password: 's@cret', tls: { servername: 'queue.example' } });
    expect(t.display).not.toContain('cret');
    expect(t.display).toContain('***');
  });

  it('takes the password from REDISCLI_AUTH when the URL has none', () => {
    expect(parseQueueUrl('redis://h:1', { REDISCLI_AUTH: 'pw' }).connection).toMatchObject({ password: 'pw' });
  });

  it('refuses other schemes and bad databases', () => {
    expect(() => parseQueueUrl('http://h:1', {})).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => parseQueueUrl('not a url', {})).toThrow(/not a URL/);
    expect(() => parseQueueUrl('redis://h:1/x', {})).toThrow(/database number/);
  });
});
