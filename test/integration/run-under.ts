import type Docker from 'dockerode';
import type { DockerProfile } from '../../formats/profile/seccomp-types';
import { watchExit } from '../../system/docker/exit-watch';
import { removeContainer, VERIFY_LABELS, withProfile } from '../../system/verify/container';

/**
 * Exit status of `cmd` in image `ref`, without network, under `profile` — or, with
 * 'unconfined', under no filter at all, to learn what the kernel itself does with the call.
 */
export async function exitStatusUnder(docker: Docker, ref: string, profile: DockerProfile | 'unconfined', cmd: string[]): Promise<number> {
  const opts = { Cmd: cmd, HostConfig: { NetworkMode: 'none' } };
  const c = await docker.createContainer(profile === 'unconfined' ? { ...opts, Image: ref, Labels: { ...VERIFY_LABELS }, HostConfig: { ...opts.HostConfig, SecurityOpt: ['seccomp=unconfined'] } } : withProfile(opts, ref, profile));
  try {
    const exited = watchExit(c);
    await c.start();
    const { code } = await exited;
    if (code === undefined) throw new Error(`${cmd.join(' ')} in ${ref}: the engine did not tell how the container ended`);
    return code;
  } finally {
    await removeContainer(c);
  }
}
