/** Which SQLite store locations `trackgate check-config` warns about (src/store/sqlite-location.ts). */
import { describe, expect, it } from 'vitest';
import { sqliteLocationWarnings } from '../../src/store/sqlite-location.js';

const CWD = '/app';
const TMP = '/var/folders/xy/T';
const warn = (url: string): string[] => sqliteLocationWarnings(url, CWD, TMP);

describe('sqliteLocationWarnings', () => {
  it('says nothing of an absolute path on a volume, or of Redis', () => {
    expect(warn('sqlite:/var/lib/trackgate/trackgate.sqlite')).toEqual([]);
    expect(warn('sqlite:/tmpfiles/trackgate.sqlite')).toEqual([]);
    expect(warn('redis://127.0.0.1:6379/0')).toEqual([]);
  });

  it('warns of :memory:', () => {
    expect(warn('sqlite::memory:')).toEqual([expect.stringMatching(/memory; every restart loses them/)]);
  });

  it.each(['/tmp/trackgate.sqlite', '/dev/shm/t.sqlite', '/var/tmp/a/b.sqlite', '/run/trackgate.sqlite', `${TMP}/t.sqlite`])('warns of %s, a temporary folder', (path) => {
    expect(warn(`sqlite:${path}`)).toEqual([expect.stringContaining(`${path} is under `)]);
  });

  it('warns of a relative path, naming the file it opens under the working directory', () => {
    expect(warn('sqlite:data/trackgate.sqlite')).toEqual([expect.stringContaining('a relative path opens /app/data/trackgate.sqlite, under the working directory')]);
  });

  it('gives both reasons for a relative path that lands in a temporary folder', () => {
    expect(sqliteLocationWarnings('sqlite:../x.sqlite', '/tmp/work', TMP)).toEqual([
      expect.stringContaining('a relative path opens /tmp/x.sqlite'),
      expect.stringContaining('/tmp/x.sqlite is under /tmp'),
    ]);
  });
});
