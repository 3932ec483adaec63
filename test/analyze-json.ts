import { analyzeCommand } from '../cli/analyze-command';

/** What `confine analyze FILE --json` reports for the file (its first binary), run in process with its output captured. */
export async function analyzeJson(file: string): Promise<{ syscalls: string[]; unresolvedSites: number }> {
  let out = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    expect(await analyzeCommand([file, '--json'])).toBe(0);
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  return JSON.parse(out).binaries[0];
}
