import type { Stage } from '../pipeline/stage';
import type { ProfileArtifact, StatsArtifact } from '../schemas/types';
import type { RunConfig } from './config';

/**
 * The batch's figures, over every image whose profile was emitted. Its inputs are
 * keyed per image, so a batch where one image changed recomputes only this.
 */
export function statsStage(): Stage<{ 'profile-emit': Record<string, ProfileArtifact> }, StatsArtifact, RunConfig> {
  return {
    name: 'stats',
    version: 1,
    schema: 'confine/stats/v1',
    scope: 'after',
    needs: ['profile-emit'],
    resource: 'cpu',
    configSlice: () => null,
    run: async (deps, ctx, _unit, _config) => {
      const profiles = Object.values(deps['profile-emit'] ?? {});
      const perImage = profiles
        .map((p) => ({ name: p.imageName, allowed: p.allowedCount, blocked: p.blockedCount }))
        .sort((a, b) => a.name.localeCompare(b.name));
      const stats: StatsArtifact = {
        profiled: perImage.length,
        medianAllowed: median(perImage.map((p) => p.allowed)),
        perImage,
      };
      ctx.log(`${stats.profiled} profiles; median allowed syscalls ${stats.medianAllowed ?? 'n/a'}`);
      return stats;
    },
  };
}

export function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
