import { fieldSafe } from '../../pipeline/terminal-text';
import type { BatchStats, ImageStat } from './batch-stats';
import type { ImageUnresolved } from './unresolved-report';

export interface HtmlReportInput {
  title: string;
  stats: BatchStats;
  /** Per hardened image: the syscalls its profile allows (for the heat map). */
  allowedSets: Map<string, Set<string>>;
  /** Syscalls in the table blocked counts are relative to. */
  universe: number;
  dockerDefaultAllowed: number;
  /** The seed's published sample results, summarised the same way (optional). */
  seed?: { images: number; meanBlocked: number; meanAllowed: number };
  failures: { image: string; error: string }[];
  /** Per image: reached syscall sites whose number was not recovered (absent: not known, e.g. seed report files). */
  unresolved?: ImageUnresolved[];
  generatedAt: string;
}

// Two escapings: control characters from image text made visible (a report may be read
// with cat, and a browser shows them as nothing), then HTML's own.
const esc = (s: string) => fieldSafe(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const fmt = (n: number | null) => (n === null ? 'n/a' : String(Math.round(n * 10) / 10));

/** Histogram of allowed counts, with Docker's default, the seed's average and our median as marked lines. */
function distributionSvg(inp: HtmlReportInput): string {
  const values = inp.stats.perImage.map((i) => i.allowed).filter((n): n is number => n !== null);
  const W = 900, H = 260, L = 50, B = 40, T = 20, R = 20;
  const max = inp.universe;
  const bin = 10;
  const bins = new Array(Math.ceil((max + 1) / bin)).fill(0) as number[];
  for (const v of values) bins[Math.min(bins.length - 1, Math.floor(v / bin))]++;
  const top = Math.max(1, ...bins);
  const x = (v: number) => L + ((W - L - R) * v) / max;
  const y = (c: number) => H - B - ((H - B - T) * c) / top;
  const bars = bins
    .map((c, i) => (c ? `<rect x="${x(i * bin) + 1}" y="${y(c)}" width="${x(bin) - L - 2}" height="${H - B - y(c)}" fill="#4a7bd0"><title>${i * bin}–${i * bin + bin - 1} allowed: ${c} image(s)</title></rect>` : ''))
    .join('');
  const marker = (v: number, label: string, color: string, dy: number) =>
    `<line x1="${x(v)}" x2="${x(v)}" y1="${T}" y2="${H - B}" stroke="${color}" stroke-width="2" stroke-dasharray="5,3"/>` +
    `<text x="${x(v) + 4}" y="${T + 12 + dy}" font-size="12" fill="${color}">${esc(label)}</text>`;
  const ticks = Array.from({ length: Math.floor(max / 50) + 1 }, (_, i) => i * 50)
    .map((v) => `<line x1="${x(v)}" x2="${x(v)}" y1="${H - B}" y2="${H - B + 5}" stroke="#333"/><text x="${x(v)}" y="${H - B + 18}" font-size="11" text-anchor="middle">${v}</text>`)
    .join('');
  const yTicks = Array.from({ length: top + 1 }, (_, c) => c)
    .filter((c) => top <= 10 || c % Math.ceil(top / 10) === 0)
    .map((c) => `<text x="${L - 6}" y="${y(c) + 4}" font-size="11" text-anchor="end">${c}</text>`)
    .join('');
  const med = inp.stats.medianAllowed;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="allowed syscalls per image">
<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>
${bars}${ticks}${yTicks}
${marker(inp.dockerDefaultAllowed, `Docker default: ${inp.dockerDefaultAllowed}`, '#c0392b', 0)}
${inp.seed ? marker(inp.seed.meanAllowed, `seed's average: ${fmt(inp.seed.meanAllowed)}`, '#8e44ad', 16) : ''}
${med !== null ? marker(med, `median here: ${fmt(med)}`, '#16a085', 32) : ''}
<text x="${(W + L) / 2}" y="${H - 4}" font-size="12" text-anchor="middle">syscalls allowed (of ${inp.universe})</text>
<text x="12" y="${(H - B) / 2}" font-size="12" transform="rotate(-90 12 ${(H - B) / 2})" text-anchor="middle">images</text>
</svg>`;
}

/** Images × syscalls allowed by at least one image; columns sorted by how many images allow them. */
function heatmapSvg(inp: HtmlReportInput): string {
  const images = [...inp.allowedSets.keys()].sort();
  if (!images.length) return '<p>No hardened images.</p>';
  const count = new Map<string, number>();
  for (const s of inp.allowedSets.values()) for (const n of s) count.set(n, (count.get(n) ?? 0) + 1);
  const cols = [...count].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([n]) => n);
  const cw = Math.max(3, Math.min(12, Math.floor(1150 / cols.length)));
  const ch = 16, L = 160, T = 10;
  const W = L + cols.length * cw + 10, H = T + images.length * ch + 20;
  const cells = images
    .map((img, r) => {
      const set = inp.allowedSets.get(img)!;
      const label = `<text x="${L - 6}" y="${T + r * ch + 12}" font-size="11" text-anchor="end">${esc(img)}</text>`;
      return label + cols.map((s, c) => `<rect x="${L + c * cw}" y="${T + r * ch}" width="${cw - 0.5}" height="${ch - 1}" fill="${set.has(s) ? '#d35400' : '#f3ede6'}"><title>${esc(img)}: ${esc(s)} ${set.has(s) ? 'allowed' : 'blocked'}</title></rect>`).join('');
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="syscall by image heat map">${cells}
<text x="${L}" y="${H - 4}" font-size="11">${cols.length} syscalls allowed by at least one image (most shared on the left); orange = allowed, pale = blocked</text></svg>`;
}

function cveSvg(inp: HtmlReportInput, of: (i: ImageStat) => string[] | null = (i) => i.cvesMitigated, total = inp.stats.perCve.length, label = 'CVEs mitigated per image'): string {
  const rows = inp.stats.perImage
    .filter((i) => i.hardened && of(i) !== null)
    .map((i) => ({ name: i.name, cvesMitigated: of(i)! }))
    .sort((a, b) => b.cvesMitigated.length - a.cvesMitigated.length || a.name.localeCompare(b.name));
  if (!rows.length || !total) return '<p>No hardened images or no CVEs given.</p>';
  const bh = 18, L = 160, W = 700, T = 6;
  const x = (n: number) => L + ((W - L - 60) * n) / total;
  const bars = rows
    .map((r, i) => `<text x="${L - 6}" y="${T + i * bh + 13}" font-size="11" text-anchor="end">${esc(r.name)}</text><rect x="${L}" y="${T + i * bh + 2}" width="${x(r.cvesMitigated.length) - L}" height="${bh - 4}" fill="#27ae60"><title>${esc(r.cvesMitigated.join(', ') || 'none')}</title></rect><text x="${x(r.cvesMitigated.length) + 4}" y="${T + i * bh + 13}" font-size="11">${r.cvesMitigated.length} / ${total}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${T + rows.length * bh + 8}" role="img" aria-label="${esc(label)}">${bars}</svg>`;
}

const table = (head: string[], rows: (string | number)[][]) =>
  `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`).join('')}</tbody></table>`;

/** Every reached syscall site with an unknown number, per image: a syscall made there may be missing from a narrowed profile. */
function unresolvedSection(inp: HtmlReportInput): string {
  if (!inp.unresolved) return '';
  const rows = inp.unresolved.flatMap((i) =>
    i.sites.map((u) => [i.image, i.fallback ? 'not hardened (base profile)' : 'narrowed anyway', u.object, `0x${u.site.toString(16)}`, u.function, u.reasons.join('; '), u.binaries.join(', ')]),
  );
  return `<h2>Unresolved syscall sites</h2>
<p>Reached syscall instructions whose number the analysis could not recover: any syscall may be made at one of them, so such an image keeps the base profile and is not hardened (with <code>--narrow-past-unknown-sites</code> it is narrowed anyway, and a syscall made there may be blocked).</p>
${rows.length ? table(['image', 'profile', 'object', 'site', 'function', 'why', 'reached from'], rows) : '<p>None.</p>'}`;
}

/** Images grouped by the reason they share, one `reason: a, b` line each (HTML). */
const byReason = (xs: { reason: string; images: string[] }[]) => xs.map((x) => `${esc(x.reason)}: <i>${esc(x.images.join(', '))}</i>`).join('<br>');

/**
 * Every CVE of the map, so a reader can check each claim: its year, every way in, and
 * per image why it counts as mitigated (what is blocked, refused or ruled out) or why not.
 */
function cveClaimsSection(inp: HtmlReportInput): string {
  const claims = inp.stats.cveClaims;
  if (!claims.length) return '';
  const group = (xs: { image: string; reason: string }[]) => {
    const m = new Map<string, string[]>();
    for (const x of xs) m.set(x.reason, [...(m.get(x.reason) ?? []), x.image]);
    return [...m].map(([reason, images]) => ({ reason, images }));
  };
  return `<p>A CVE counts as mitigated for an image only when every way in is closed (formats/report/data/README.md; per-row sources in formats/report/data/SOURCES.md). "compat only": the bug is only in the i386/x32 compat path, closed when the profile refuses those ABIs.</p>
<table><thead><tr>${['CVE', 'year', 'reached through (every way in)', 'mitigated in — why', 'open in — why not'].map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${claims
    .map((c) => `<tr><td>${esc(c.id + (c.compatOnly ? ' (compat only)' : ''))}</td><td>${c.year ?? ''}</td><td>${esc(c.reachedThrough)}</td><td>${byReason(group(c.mitigatedIn)) || '—'}</td><td>${byReason(c.openIn) || '—'}</td></tr>`)
    .join('')}</tbody></table>`;
}

/** CVEs closed by argument conditions of a syscall the image still makes: apart from the syscall-level figures. */
function argCveSection(inp: HtmlReportInput): string {
  const s = inp.stats;
  if (!s.perArgCve.length) return '';
  const closed = s.perArgCve.filter((c) => c.mitigatedIn.length);
  const pairs = s.perArgCve.reduce((a, c) => a + c.mitigatedIn.length, 0);
  return `<h2>CVEs mitigated by argument rules</h2>
<p>CVEs reachable only through some argument values of a syscall (a socket family, an ioctl request) that an image's profile still allows, but only with conditions that refuse every such value — and that the blocked syscalls above do not already mitigate. A 64-bit comparison counts only if no upper half of the register gets the value through (the kernel reads the low 32 bits), and a socket rule counts only if the profile does not admit the i386 ABI (whose socketcall(2) no filter can check).</p>
<p class="totals"><span><b>${closed.length}</b> of ${s.perArgCve.length} CVEs closed in at least one image</span><span><b>${pairs}</b> image × CVE pairs</span><span><b>${s.argRuleImages}</b> hardened images with their profile checked</span></p>
${s.argRuleImages ? cveSvg(inp, (i) => i.cvesMitigatedByArgRules, s.perArgCve.length, 'CVEs mitigated by argument rules per image') : '<p>No profile was found next to the report: argument rules were not checked.</p>'}
${table(['CVE', 'reached through', 'images whose argument rules close it'], s.perArgCve.map((c) => [c.id, c.paths.join(' or '), c.mitigatedIn.length ? c.mitigatedIn.join(', ') : '—']))}`;
}

/** One self-contained page: inline CSS and SVG, no script, nothing fetched. */
export function renderHtmlReport(inp: HtmlReportInput): string {
  const t = inp.stats.totals;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(inp.title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>
body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}
.totals span{display:inline-block;margin-right:24px;font-size:15px}.totals b{font-size:22px}
svg{display:block;margin:8px 0}
</style></head><body>
<h1>${esc(inp.title)}</h1>
<p class="totals"><span><b>${t.total}</b> images analysed</span><span><b>${t.launched}</b> launched</span><span><b>${t.stillRunning}</b> still running at the end of the trace</span><span><b>${t.hardened}</b> hardened</span></p>
<h2>Allowed syscalls per image</h2>
${distributionSvg(inp)}
${inp.seed ? `<p>Seed's average from its published sample results: ${fmt(inp.seed.meanBlocked)} syscalls blocked over ${inp.seed.images} hardened images, shown as ${fmt(inp.seed.meanAllowed)} allowed of ${inp.universe}.</p>` : ''}
${table(['image', 'allowed', 'blocked', "blocked beyond Docker's default", 'CVEs mitigated', 'CVEs mitigated by argument rules'], inp.stats.perImage.filter((i) => i.hardened).map((i) => [i.name, i.allowed ?? '', i.blocked, i.blockedBeyondDefault, i.cvesMitigated.length, i.cvesMitigatedByArgRules?.length ?? 'n/a']))}
<h2>Syscall × image</h2>
${heatmapSvg(inp)}
<h2>CVEs mitigated per image</h2>
${cveSvg(inp)}
${cveClaimsSection(inp)}
${argCveSection(inp)}
${unresolvedSection(inp)}
<h2>Images that failed or are not hardened</h2>
${inp.failures.length ? table(['image', 'why'], inp.failures.map((f) => [f.image, f.error])) : '<p>None.</p>'}
<p style="color:#777;font-size:11px">Generated ${esc(inp.generatedAt)} by confine.</p>
</body></html>
`;
}
