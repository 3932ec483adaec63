import { imageJobData, listLines, QueueOptions, readImageJob } from './image-job';
import { parseImageList } from '../formats/image-list';

const options: QueueOptions = { durationSec: 10, allBinaries: false, finegrained: false, narrowPastUnknownSites: false, forms: ['oci'], force: false, until: 'profile-emit' };
const job = (line: string, o: unknown = options) => ({ v: 1, batch: 'b1', line, lineNo: 3, options: o });

describe('image jobs', () => {
  it('carry the list line verbatim and come back as the same entry', () => {
    const text = '#1;a;img/a:1;[];0;Official\r\n#2;b;img/b:2;[\'DB\'];5;Unofficial;-p 8080 -e X=1\n';
    const list = parseImageList(text, 'list');
    const data = imageJobData('b1', list.images[1], listLines(text), options);
    expect(data.line).toBe("#2;b;img/b:2;['DB'];5;Unofficial;-p 8080 -e X=1");
    expect(JSON.stringify(data)).not.toContain('list'); // no host path travels
    const back = readImageJob(data);
    expect(back.entry).toMatchObject({ name: 'b', ref: 'img/b:2', extraOptions: '-p 8080 -e X=1', categories: ['DB'], line: 2 });
    expect(back.options).toEqual(options);
  });

  it('refuse what the list file refuses, and binds, which a local list may have', () => {
    expect(() => readImageJob(job('#1;a;img;[];0;Official;--privileged'))).toThrow(/privileged/);
    expect(() => readImageJob(job('#1;a;img;[];0;Official;--pid host'))).toThrow(/pid/);
    expect(() => readImageJob(job('#1;a;img;[];0;Official;-v /:/host'))).toThrow(/bind mounts .* refused/);
    expect(() => readImageJob(job('#1;a;img;[];0;Official;-v data:/data'))).toThrow(/bind mounts .* refused/);
    expect(readImageJob(job('#1;a;img;[];0;Official;-v /data')).entry.extraOptions).toBe('-v /data'); // anonymous volume
    expect(() => readImageJob(job('#1;../etc;img;[];0;Official'))).toThrow(/name must be/);
    expect(() => readImageJob(job('#1;a;img\u001b[31mred;[];0;Official'))).toThrow(/reference/);
    expect(readImageJob(job('#1;a;registry.example:5000/team/img@sha256:' + 'a'.repeat(64) + ';[];0;Official')).entry.ref).toMatch(/^registry/);
  });

  it('refuse malformed jobs and options', () => {
    expect(() => readImageJob(null)).toThrow(/not an object/);
    expect(() => readImageJob({ ...job('#1;a;img;[];0;Official'), v: 2 })).toThrow(/version/);
    expect(() => readImageJob(job('#1;a;img;[];0;Official\n#2;b;img;[];0;Official'))).toThrow(/one line/);
    expect(() => readImageJob({ ...job('#1;a;img;[];0;Official'), batch: '../x' })).toThrow(/batch/);
    expect(() => readImageJob(job('#1;a;img;[];0;Official', { ...options, durationSec: 0 }))).toThrow(/durationSec/);
    expect(() => readImageJob(job('#1;a;img;[];0;Official', { ...options, forms: ['x'] }))).toThrow(/forms/);
    expect(() => readImageJob(job('#1;a;img;[];0;Official', { ...options, until: 'stats' }))).toThrow(/until/);
    expect(() => readImageJob(job('#1;a;img;[];0;Official', { ...options, force: 'yes' }))).toThrow(/force/);
  });
});
