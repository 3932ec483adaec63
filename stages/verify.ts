import { promises as fs } from 'node:fs';
import { sha256Hex } from '../cache/digest';
import { parseRunOptions, toCreateOptions } from '../system/docker/run-options';
import { ConfineError } from '../pipeline/errors';
import type { Stage } from '../pipeline/stage';
import { parseProfileText } from '../formats/profile/read-profile';
import type { ProfileArtifact, VerifyArtifact } from '../schemas/types';
import { verifyImage } from '../system/verify/verify-image';
import type { RunConfig } from './config';
import type { ImageEntry } from '../formats/image-list';
import { probeFor, probeInput } from './probes';
import type { Services } from './services';

/**
 * Runs the image under the profile profile-emit wrote (with its probe, if the probes
 * file declares one), then with the same allowlist but defaultAction LOG, and records
 * every syscall the kernel logged for the container: each is a false negative of the
 * analysis. Keyed by the profile's content, so a changed profile is verified again.
 */
export function verifyStage(services: Services): Stage<{ 'profile-emit': ProfileArtifact }, VerifyArtifact, RunConfig> {
  return {
    name: 'verify',
    version: 1,
    schema: 'confine/verify/v1',
    scope: 'image',
    needs: ['profile-emit'],
    resource: 'container',
    configSlice: (c) => ({ durationSec: c.verifyDurationSec }),
    externalInputs: async (unit, config) => {
      const image = unit.data as ImageEntry;
      const probe = probeFor(config, image.name);
      return { options: image.extraOptions, probe: probe ? probeInput(probe) : '(none)' };
    },
    run: async (deps, ctx, unit, config) => {
      const image = unit.data as ImageEntry;
      const emitted = deps['profile-emit'];
      const text = await fs.readFile(emitted.profileFile, 'utf8');
      const parsed = parseProfileText(text, emitted.profileFile);
      if (!parsed.ok) throw new ConfineError('bad-input', parsed.error.message, { file: emitted.profileFile });
      const spec = parseRunOptions(image.extraOptions, { file: image.file, line: image.line, image: image.name });
      const probe = probeFor(config, image.name);
      ctx.progress(`running under its profile${probe ? ' with its probe' : ''}, then logging`);
      const r = await verifyImage({
        docker: await services.docker(),
        image: emitted.imageId,
        createOptions: toCreateOptions(spec, emitted.imageId, {}),
        profile: parsed.value.profile,
        ...(probe ? { probe } : {}),
        durationSec: config.verifyDurationSec,
        labels: { 'confine.run': services.runLabel, 'confine.owner-pid': String(process.pid) },
      });
      for (const fn of r.falseNegatives) ctx.log(`FALSE NEGATIVE: ${fn.name} by ${fn.comm} (${fn.exe}) ×${fn.count}`);
      if (probe) ctx.log(`probe ${r.probeOk ? 'passed' : 'FAILED'}: ${r.probeDetail ?? ''}`);
      ctx.log(`${r.falseNegatives.length} false negatives; ${emitted.allowedCount} allowed, ${emitted.blockedCount} blocked (Docker's default allows ${emitted.dockerDefaultAllowedCount})`);
      if (r.lostRecords) ctx.log(`warning: ${r.lostRecords} kernel log records were lost: false negatives may be missing`);
      return {
        imageId: emitted.imageId,
        profileFile: emitted.profileFile,
        profileSha256: sha256Hex(text),
        ...(probe ? { probe: JSON.stringify(probe) } : {}),
        ...(r.probeOk !== undefined ? { probeOk: r.probeOk } : {}),
        ...(r.probeDetail !== undefined ? { probeDetail: r.probeDetail } : {}),
        falseNegatives: r.falseNegatives.map((f) => ({ name: f.name, syscall: f.syscall, comm: f.comm, exe: f.exe, count: f.count })),
        unattributed: r.unattributed.reduce((n, u) => n + u.count, 0),
        exitedEarly: r.exitedEarly,
        lostRecords: r.lostRecords,
        logTail: r.logTail.slice(-4096),
      };
    },
  };
}
