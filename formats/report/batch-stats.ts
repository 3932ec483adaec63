import type { DockerProfile } from '../profile/seccomp-types';
import { CveEntry, formatWay, isMitigated } from './cve';
import { CveArgEntry, cvesMitigatedByArgRules } from './cve-args';
import { compatOnly, cveMap, cveVerdict, CveVerdict, MitigatedBy, reachedThrough, syscallVerdict } from './cve-verdict';
import { argValueSymbol } from '../../analysis/syscalls/arg-names';
import type { DetailReportRow, SummaryReportRow } from './seed-report';

/** What stats needs to know about an image from the image list. */
export interface ImageInfo {
  rank: number;
  categories: string[];
  official: boolean;
}

export interface BatchInputs {
  summary: SummaryReportRow[];
  details: DetailReportRow[];
  /** By image name; images not in the list fall in category 'Other', as in the seed. */
  images: Map<string, ImageInfo>;
  cves: CveEntry[];
  /** CVEs reachable only through some argument values (formats/report/data/cve-to-syscall-arg.csv). */
  argCves?: CveArgEntry[];
  /** By image name: the profile written for it, as the engine reads it (absent: not known, e.g. the seed's report files). */
  profiles?: Map<string, DockerProfile>;
  /** Syscalls in the table the blocked counts are relative to: allowed = universe − blocked when a row does not say. */
  universe: number;
}

export interface ImageStat {
  name: string;
  rank: number;
  launched: boolean;
  stillRunning: boolean;
  hardened: boolean;
  allowed: number | null;
  blocked: number;
  blockedBeyondDefault: number;
  languages: string[];
  categories: string[];
  cvesMitigated: string[];
  /**
   * CVEs of the argument list the profile closes with argument conditions and the
   * syscall-level list does not count (null: not hardened, or its profile is not known).
   */
  cvesMitigatedByArgRules: string[] | null;
  /** Per CVE of the whole map (both files): mitigated or not, and why (null: not hardened). */
  cveVerdicts: CveVerdict[] | null;
  error: string;
}

/** One CVE of the map over the batch: what a reader needs to check each claim. */
export interface CveClaim {
  id: string;
  year: number | null;
  /** Every way in, from both files (`clone, unshare | clone flags CLONE_NEWUSER, …`). */
  reachedThrough: string;
  /** Every way in is through the i386 or x32 compat path only. */
  compatOnly: boolean;
  mitigatedIn: { image: string; by: MitigatedBy; reason: string }[];
  /** Images where it stays open, grouped by the reason. */
  openIn: { reason: string; images: string[] }[];
}

export interface GroupStat {
  group: string;
  /** Images in the group (seed: per language, those that stayed running). */
  images: number;
  hardened: number;
  avgAllowed: number | null;
  avgBlocked: number | null;
  /** Syscalls every hardened image of the group blocks (the seed's syscall.categorized). */
  blockedByAll: number;
}

export interface BatchStats {
  totals: { total: number; launched: number; stillRunning: number; hardened: number };
  perImage: ImageStat[];
  /** Syscall → how many hardened images block it, most blocked first. */
  perSyscall: { syscall: string; imagesBlocking: number }[];
  perCategory: GroupStat[];
  perLanguage: GroupStat[];
  perCve: { id: string; syscalls: string[]; mitigatedIn: string[] }[];
  /** Per CVE of the argument list: its ways in (`socket domain AF_PACKET`) and the images that close it by argument rules. */
  perArgCve: { id: string; paths: string[]; mitigatedIn: string[] }[];
  /** Hardened images whose profile was read, so that argument rules could be checked. */
  argRuleImages: number;
  /** Every CVE of the map (both files), with its verdict per hardened image. */
  cveClaims: CveClaim[];
  medianAllowed: number | null;
}

/**
 * The seed's language attribution: a mixed image is not counted as C/C++ (every image
 * has some C), and an image with no language found is 'Unknown'.
 */
export function languageGroups(langs: string[]): string[] {
  let l = [...new Set(langs)];
  if (l.length > 1) l = l.filter((x) => x !== 'CCPP');
  return l.length ? l.sort() : ['Unknown'];
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * The batch's figures from report rows. A report may list an image more than once (the
 * seed appended on reruns): the last row wins.
 */
export function computeBatchStats(inp: BatchInputs): BatchStats {
  const summary = new Map<string, SummaryReportRow>();
  for (const r of inp.summary) summary.set(r.name, r);
  const blockedSets = new Map<string, Set<string>>();
  for (const d of inp.details) blockedSets.set(d.name, new Set(d.blockedSyscalls));

  const map = cveMap(inp.cves, inp.argCves ?? []);
  const perImage: ImageStat[] = [...summary.values()].map((r) => {
    const blocked = blockedSets.get(r.name);
    const info = inp.images.get(r.name);
    // The written profile says which ABIs and argument values get through; without it only names are known.
    const profile = inp.profiles?.get(r.name);
    const filter = blocked ? { blocked, ...(profile ? { profile } : {}) } : undefined;
    return {
      name: r.name,
      rank: r.rank,
      launched: r.launched,
      stillRunning: r.stillRunning,
      hardened: r.hardened,
      allowed: r.hardened ? (r.allowed ?? inp.universe - r.blocked) : null,
      blocked: r.blocked,
      blockedBeyondDefault: r.blockedBeyondDefault,
      languages: languageGroups(r.languages),
      categories: info?.categories.filter((c) => c.trim()).length ? info.categories.filter((c) => c.trim()) : ['Other'],
      cvesMitigated: r.hardened && filter ? inp.cves.filter((c) => (profile ? syscallVerdict(c, filter).mitigated : isMitigated(c, filter.blocked))).map((c) => c.id) : [],
      cvesMitigatedByArgRules: null as string[] | null,
      cveVerdicts: r.hardened && filter ? map.map((e) => cveVerdict(e, filter)) : null,
      error: r.error,
    };
  });
  for (const i of perImage) {
    const profile = inp.profiles?.get(i.name);
    if (i.hardened && profile) i.cvesMitigatedByArgRules = cvesMitigatedByArgRules(profile, inp.argCves ?? [], new Set(i.cvesMitigated));
  }
  const hardened = perImage.filter((i) => i.hardened);

  const blockCount = new Map<string, number>();
  for (const i of hardened) for (const s of blockedSets.get(i.name) ?? []) blockCount.set(s, (blockCount.get(s) ?? 0) + 1);
  const perSyscall = [...blockCount]
    .map(([syscall, imagesBlocking]) => ({ syscall, imagesBlocking }))
    .sort((a, b) => b.imagesBlocking - a.imagesBlocking || a.syscall.localeCompare(b.syscall));

  const group = (key: (i: ImageStat) => string[], members: (i: ImageStat) => boolean): GroupStat[] => {
    const groups = new Map<string, ImageStat[]>();
    for (const i of perImage) for (const g of key(i)) groups.set(g, [...(groups.get(g) ?? []), i]);
    return [...groups]
      .map(([g, all]) => {
        const h = all.filter((i) => i.hardened);
        let common: Set<string> | undefined;
        for (const i of h) {
          const s = blockedSets.get(i.name) ?? new Set<string>();
          common = common ? new Set([...common].filter((x) => s.has(x))) : new Set(s);
        }
        return {
          group: g,
          images: all.filter(members).length,
          hardened: h.length,
          avgAllowed: mean(h.map((i) => i.allowed!).filter((n) => n !== null)),
          avgBlocked: mean(h.map((i) => i.blocked)),
          blockedByAll: common?.size ?? 0,
        };
      })
      .sort((a, b) => a.group.localeCompare(b.group));
  };

  return {
    totals: {
      total: perImage.length,
      launched: perImage.filter((i) => i.launched).length,
      stillRunning: perImage.filter((i) => i.stillRunning).length,
      hardened: hardened.length,
    },
    perImage,
    perSyscall,
    perCategory: group((i) => i.categories, () => true),
    // The seed's language table counts, as "Total", the images that stayed running.
    perLanguage: group((i) => i.languages, (i) => i.stillRunning),
    perCve: inp.cves.map((c) => ({ id: c.id, syscalls: c.ways.map(formatWay), mitigatedIn: hardened.filter((i) => i.cvesMitigated.includes(c.id)).map((i) => i.name) })),
    perArgCve: (inp.argCves ?? []).map((c) => ({
      id: c.id,
      paths: c.paths.map((p) => `${p.syscall} ${p.argument} ${p.values.map((v) => argValueSymbol(p.syscall, p.index, v) ?? `0x${v.toString(16)}`).join('|')}`),
      mitigatedIn: hardened.filter((i) => i.cvesMitigatedByArgRules?.includes(c.id)).map((i) => i.name),
    })),
    argRuleImages: hardened.filter((i) => i.cvesMitigatedByArgRules !== null).length,
    cveClaims: map.map((e) => {
      const verdicts = hardened.flatMap((i) => (i.cveVerdicts ? [{ image: i.name, v: i.cveVerdicts.find((x) => x.id === e.id)! }] : []));
      const open = new Map<string, string[]>();
      for (const { image, v } of verdicts) if (!v.mitigated) open.set(v.reason, [...(open.get(v.reason) ?? []), image]);
      return {
        id: e.id,
        year: e.year ?? null,
        reachedThrough: reachedThrough(e),
        compatOnly: compatOnly(e),
        mitigatedIn: verdicts.filter(({ v }) => v.mitigated).map(({ image, v }) => ({ image, by: v.by!, reason: v.reason })),
        openIn: [...open].map(([reason, images]) => ({ reason, images })).sort((a, b) => b.images.length - a.images.length || a.reason.localeCompare(b.reason)),
      };
    }),
    medianAllowed: median(hardened.map((i) => i.allowed).filter((n): n is number => n !== null)),
  };
}
