import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { SEED_DIR } from '../test/test-data';
import { parseImageList } from './image-list';

describe('parseImageList', () => {
  it("reads every line of the seed's own list", () => {
    const file = path.join(SEED_DIR, 'images.list');
    const text = readFileSync(file, 'utf8');
    const { images, errors } = parseImageList(text, file);
    expect(errors.map((e) => e.describe())).toEqual([]);
    expect(images.length).toBe(text.split('\n').filter((l) => l.trim()).length);
    const mysql = images.find((i) => i.name === 'mysql-enterprise-server')!;
    expect(mysql).toMatchObject({ rank: 3, ref: 'store/oracle/mysql-enterprise-server:5.7', categories: ['Databases'], official: false, extraOptions: '-e MYSQL_ROOT_PASSWORD=my-secret-pw' });
  });

  it('accepts a BOM and CRLF line ends', () => {
    const { images, errors } = parseImageList("\uFEFF1;nginx;nginx:latest;['Web Servers'];10;Official;-p 80:80\r\n2;redis;redis;[];0;Unofficial\r\n", 'l');
    expect(errors).toEqual([]);
    expect(images.map((i) => [i.name, i.extraOptions])).toEqual([['nginx', '-p 80:80'], ['redis', '']]);
  });

  it('names file and line for each bad line and keeps the good ones', () => {
    const text = [
      '1;ok;ok:1;[];0;Official',
      'x;badrank;img;[];0;Official',
      '3;short;img;[]',
      '4;baddl;img;[];many;Official',
      '5;ok;again;[];0;Official',
      "6;cats;img;['a', b];0;Official",
      '7;off;img;[];0;Maybe',
      '8;too;many;[];0;Official;-e A=1;extra',
    ].join('\n');
    const { images, errors } = parseImageList(text, 'images.list');
    expect(images.map((i) => i.name)).toEqual(['ok']);
    expect(errors.map((e) => e.describe())).toEqual([
      expect.stringMatching(/^images\.list:2: bad-input: rank must be a number/),
      expect.stringMatching(/^images\.list:3: bad-input: expected 6 or 7 .* found 4/),
      expect.stringMatching(/^images\.list:4: bad-input: downloads must be a whole number/),
      expect.stringMatching(/^images\.list:5: bad-input: name 'ok' already used on line 1/),
      expect.stringMatching(/^images\.list:6: bad-input: categories must be a list/),
      expect.stringMatching(/^images\.list:7: bad-input: official must be/),
      expect.stringMatching(/^images\.list:8: bad-input: expected 6 or 7 .* found 8/),
    ]);
  });

  it('an empty file is an error, not an empty batch', () => {
    expect(parseImageList('\n\n', 'e.list').errors[0].describe()).toMatch(/e\.list: bad-input: the image list is empty/);
  });
});
