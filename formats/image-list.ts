import Papa from 'papaparse';
import { ConfineError } from '../pipeline/errors';

/** One line of the seed's images.list: `rank;name;download-name;categories;downloads;official[;extra options]`. */
export interface ImageEntry {
  rank: number;
  /** Short name: names the profile file and keys the ledger. */
  name: string;
  /** What Docker knows the image as (tag or ID). Empty in the seed's list for images it could not download; run-and-trace then fails that image. */
  ref: string;
  categories: string[];
  downloads: number;
  official: boolean;
  /** docker-run flags and trailing command, unparsed (run-and-trace parses them). */
  extraOptions: string;
  file: string;
  line: number;
}

export interface ImageListResult {
  images: ImageEntry[];
  errors: ConfineError[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Parses an image list. A bad line is an error naming the file and line; the other
 * lines go on. A BOM and CRLF line ends are accepted, as editors produce them.
 */
export function parseImageList(text: string, file: string): ImageListResult {
  const images: ImageEntry[] = [];
  const errors: ConfineError[] = [];
  const body = text.replace(/^\uFEFF/, '');
  if (!body.trim()) {
    return { images, errors: [new ConfineError('bad-input', 'the image list is empty; expected lines like `1;nginx;nginx:latest;[\'Web Servers\'];0;Official;-p 8080:80`', { file })] };
  }
  const parsed = Papa.parse<string[]>(body, { delimiter: ';', quoteChar: '\u0000', skipEmptyLines: false, newline: undefined });
  const seen = new Map<string, number>();
  parsed.data.forEach((fields, i) => {
    const line = i + 1;
    const bad = (msg: string) => errors.push(new ConfineError('bad-input', msg, { file, line }));
    const cells = fields.map((f) => f.replace(/\r$/, ''));
    if (cells.length === 1 && !cells[0].trim()) return;
    if (cells.length < 6 || cells.length > 7) {
      return bad(`expected 6 or 7 ';'-separated fields (rank;name;download-name;categories;downloads;official[;extra options]), found ${cells.length}`);
    }
    const [rankText, name, ref, categoriesText, downloadsText, officialText, extra = ''] = cells.map((c) => c.trim());
    const rankMatch = /^#?(\d+)$/.exec(rankText);
    if (!rankMatch) return bad(`rank must be a number like 12 or #12, found '${rankText}'`);
    if (!NAME.test(name)) return bad(`name must be letters, digits, '.', '_' or '-', found '${name}'`);
    if (!/^\d+$/.test(downloadsText)) return bad(`downloads must be a whole number, found '${downloadsText}'`);
    if (!/^(Official|Unofficial)$/i.test(officialText)) return bad(`official must be Official or Unofficial, found '${officialText}'`);
    const categories = parseCategories(categoriesText);
    if (!categories) return bad(`categories must be a list like ['Databases', 'Storage'], found '${categoriesText}'`);
    const earlier = seen.get(name);
    if (earlier !== undefined) return bad(`name '${name}' already used on line ${earlier}; names key profiles and must be unique`);
    seen.set(name, line);
    images.push({
      rank: Number(rankMatch[1]), name, ref, categories, downloads: Number(downloadsText),
      official: /^official$/i.test(officialText), extraOptions: extra, file, line,
    });
  });
  return { images, errors };
}

/** The seed wrote Python list literals: `['Databases', 'Storage']`; `[]` and a bare word are accepted too. */
function parseCategories(text: string): string[] | undefined {
  if (!text) return [];
  if (!text.startsWith('[')) return [text];
  if (!text.endsWith(']')) return undefined;
  const inner = text.slice(1, -1).trim();
  if (!inner) return [];
  const out: string[] = [];
  for (const part of inner.split(',')) {
    const m = /^\s*(['"])(.*)\1\s*$/.exec(part);
    if (!m) return undefined;
    out.push(m[2]);
  }
  return out;
}
