import { loadProbes, type Probe } from '../system/probe/probe';
import type { RunConfig } from './config';

/**
 * The probe --probes declares for an image, if any. Shared by run-and-trace (requests
 * while tracing) and verify (the probe must pass under the profile); the file is read
 * once per run (the CLI has already refused a malformed one).
 */
export function probeFor(config: RunConfig, name: string): Probe | undefined {
  if (!config.probesFile) return undefined;
  let probes = loaded.get(config.probesFile);
  if (!probes) {
    probes = loadProbes(config.probesFile);
    loaded.set(config.probesFile, probes);
  }
  return Object.prototype.hasOwnProperty.call(probes, name) ? probes[name] : undefined;
}

/** The probe as a cache input: the declaration itself, so editing one image's probe changes only that image's keys. */
export function probeInput(probe: Probe): string {
  return JSON.stringify(probe);
}

const loaded = new Map<string, Record<string, Probe>>();
