// The readable side of results.json: per image a summary line, then every false
// negative grouped by (program image, syscall) with the programs and the stack.
import type { HuntResult } from './hunt';

export function formatReport(results: HuntResult[]): string {
  const out: string[] = [];
  let total = 0;
  let totalFn = 0;
  for (const r of results) {
    total += r.programsAnalysed;
    const lost = r.programs.filter((p) => !p.runs.some((x) => x.started)).length;
    const failed = r.programs.filter((p) => p.analysisError).length;
    out.push(`== ${r.image}`);
    out.push(`   programs tried ${r.programsTried}, analysed+ran ${r.programsAnalysed}, never started ${lost}, analysis failed ${failed}, median allowed ${r.medianAllowed ?? '-'}`);
    const groups = new Map<string, { exe: string; syscall: string; runs: string[]; stack?: string[]; unanalysed?: string[] }>();
    for (const fn of r.falseNegatives) {
      const k = `${fn.exe}\0${fn.syscall}`;
      const g = groups.get(k) ?? { exe: fn.exe, syscall: fn.syscall, runs: [] };
      g.runs.push(fn.command ?? `${fn.program === fn.exe ? '' : fn.program + ' '}--${fn.mode}`);
      g.stack ??= fn.stack;
      g.unanalysed ??= fn.unanalysedObjects;
      groups.set(k, g);
    }
    totalFn += groups.size;
    out.push(`   false negatives: ${groups.size} (program, syscall) pairs in ${new Set(r.falseNegatives.map((f) => f.exe)).size} programs`);
    if (groups.size) {
      const rows = [...groups.values()].sort((a, b) => a.exe.localeCompare(b.exe) || a.syscall.localeCompare(b.syscall));
      const w = Math.max(...rows.map((g) => g.exe.length));
      for (const g of rows) {
        out.push(`   ${g.exe.padEnd(w)}  ${g.syscall.padEnd(18)} ${g.runs.join(', ')}`);
        if (g.stack?.length) out.push(`   ${''.padEnd(w)}  ${''.padEnd(18)} at ${g.stack.slice(0, 4).join(' ← ')}`);
        if (g.unanalysed) {
          out.push(`   ${''.padEnd(w)}  ${''.padEnd(18)} ${g.unanalysed.length ? `in objects analyze did not load: ${g.unanalysed.join(', ')}` : 'every frame is in an object analyze loaded: missed inside the analysis'}`);
        }
      }
    }
    for (const f of r.behindUnresolved ?? []) {
      out.push(`   missed behind an unresolved site (not narrowed by default, not counted): ${f.exe} ${f.syscall} ${f.command ?? `--${f.mode}`}${f.stack?.length ? ` at ${f.stack.slice(0, 3).join(' ← ')}` : ''}`);
    }
    for (const u of r.unnamed) out.push(`   not a syscall number (strace: ${u.syscall}), not counted: ${u.exe} --${u.mode}`);
    for (const p of r.programs.filter((x) => x.analysisError)) out.push(`   analysis error: ${p.path}: ${p.analysisError}`);
    const ran = r.programs.reduce((n, p) => n + p.runs.filter((x) => x.command).length, 0);
    if (ran || r.runsSkipped.length) out.push(`   command runs: ${ran} run, ${r.runsSkipped.length} skipped (program not in the image)`);
    const unchecked = r.unchecked.filter((u) => u.reason !== 'not an ELF program in the image' || u.exe !== '?');
    if (unchecked.length) out.push(`   unchecked process images: ${unchecked.length} (see results.json "unchecked")`);
  }
  out.push('');
  const unique = new Set(results.flatMap((r) => r.programs.filter((p) => p.allowed !== undefined && p.runs.some((x) => x.started)).map((p) => p.sha256)));
  const uniqueFn = new Set(results.flatMap((r) => r.falseNegatives.map((f) => `${f.exe}\0${f.syscall}`)));
  out.push(`TOTAL: ${total} programs analysed and run over ${results.length} images (${unique.size} distinct by content); ${totalFn} false-negative (program, syscall) pairs (${uniqueFn.size} distinct)`);
  return out.join('\n') + '\n';
}
