/**
 * The seed's images.list carries docker-run flags as a last field. We never shell out
 * to `docker run`: this module turns that text into create options for the Engine API,
 * with our hardening applied on top. Pure: no Docker, no host environment.
 */
import type Dockerode from 'dockerode';
import { ConfineError } from '../../pipeline/errors';
import { parseExecTooList } from '../../formats/exec-too-list';

export interface RunSpec {
  env: string[];
  /** containerPort like "80/tcp"; hostPort "" lets the engine choose. Always bound to 127.0.0.1. */
  ports: { containerPort: string; hostPort: string }[];
  /** `src:dst[:opts]` as Docker's HostConfig.Binds takes them; src is a named volume or an absolute host path. */
  binds: string[];
  /** Anonymous volumes (`-v /data`). */
  volumes: string[];
  entrypoint?: string[];
  user?: string;
  workdir?: string;
  tmpfs: Record<string, string>;
  cmd?: string[];
  /** Only `none` and `bridge` are honoured; host networking is refused. */
  network?: string;
  init?: boolean;
  /**
   * confine's own `--exec-too PROGRAM[,…]` (never passed to Docker): programs an operator
   * may `docker exec` into this image, replacing the command line's list for it
   * (`--exec-too none`: none). Undefined when the line does not say.
   */
  execToo?: string[];
  notes: string[];
}

export interface Where {
  file?: string;
  line?: number;
  image?: string;
}

export interface RunLimits {
  memoryBytes?: number;
  pidsLimit?: number;
  nanoCpus?: number;
  /** Passed through verbatim (e.g. a seccomp profile for verify); nothing is added by default. */
  securityOpt?: string[];
}

export const DEFAULT_LIMITS: Required<Omit<RunLimits, 'securityOpt'>> = {
  memoryBytes: 1024 * 1024 * 1024,
  pidsLimit: 512,
  nanoCpus: 1_000_000_000,
};

/** Splits shell-like text into words: single and double quotes, backslash escapes; no expansion. */
export function tokenize(text: string, where: Where = {}): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ConfineError('bad-input', `unterminated single quote in docker-run options: ${text}`, where);
      cur += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const d = text[i];
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        // Inside double quotes a backslash only escapes these, as in sh.
        if (d === '\\' && i + 1 < n && '"\\$`'.includes(text[i + 1])) {
          cur += text[i + 1];
          i += 2;
        } else {
          cur += d;
          i++;
        }
      }
      if (!closed) throw new ConfineError('bad-input', `unterminated double quote in docker-run options: ${text}`, where);
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 >= n) throw new ConfineError('bad-input', `trailing backslash in docker-run options: ${text}`, where);
      cur += text[i + 1];
      inWord = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Flags that take a value; long name → canonical key. Short forms map onto the same keys. */
const VALUE_FLAGS: Record<string, string> = {
  '--env': 'env', '-e': 'env',
  '--publish': 'publish', '-p': 'publish',
  '--volume': 'volume', '-v': 'volume',
  '--entrypoint': 'entrypoint',
  '--user': 'user', '-u': 'user',
  '--workdir': 'workdir', '-w': 'workdir',
  '--tmpfs': 'tmpfs',
  '--name': 'name',
  '--net': 'network', '--network': 'network',
};
/** confine's own flag in the options field: what `docker exec` may run in this image (see RunSpec.execToo). */
export const EXEC_TOO = '--exec-too';
/** Flags without a value that change nothing about what the container executes. */
const HARMLESS = new Set(['-d', '--detach', '-i', '--interactive', '-t', '--tty', '--rm']);
const SHORT_HARMLESS = new Set(['d', 'i', 't']);
const SHORT_VALUE = new Set(['e', 'p', 'v', 'u', 'w']);
/** Named so the error says why, not only that it is unknown. */
const REFUSED: Record<string, string> = {
  '--privileged': 'confine never runs containers privileged',
  '--cap-add': 'confine runs containers without added capabilities',
  '--security-opt': 'confine sets the security options itself',
  '--pid': 'sharing the host pid namespace would mix host processes into the trace',
  '--ipc': 'confine does not share IPC namespaces',
  '--device': 'confine does not pass devices into containers',
};

/**
 * Parses docker-run flags as written in images.list. An unknown or refused flag is a
 * ConfineError('bad-input') naming the file and line; harmless CLI-only flags are dropped.
 */
export function parseRunOptions(extra: string, where: Where = {}): RunSpec {
  const spec: RunSpec = { env: [], ports: [], binds: [], volumes: [], tmpfs: {}, notes: [] };
  const words = tokenize(extra ?? '', where);
  const bad = (msg: string) => new ConfineError('bad-input', msg, where);
  let i = 0;
  while (i < words.length) {
    const w = words[i];
    if (w === '--') {
      i++;
      break;
    }
    if (!w.startsWith('-') || w === '-') break; // first non-flag word: the command starts here
    let key: string | undefined;
    let value: string | undefined;
    if (w.startsWith('--')) {
      const eq = w.indexOf('=');
      const name = eq < 0 ? w : w.slice(0, eq);
      if (HARMLESS.has(name)) {
        if (eq >= 0 && !/^(true|false)$/.test(w.slice(eq + 1))) throw bad(`${name} takes no value, found '${w}'`);
        i++;
        continue;
      }
      if (name === '--init') {
        spec.init = eq < 0 || w.slice(eq + 1) === 'true';
        i++;
        continue;
      }
      if (name === EXEC_TOO) {
        if (eq < 0 && i + 1 >= words.length) throw bad(`${EXEC_TOO} needs a value: PROGRAM[,PROGRAM…], 'shell' or 'none'`);
        spec.execToo = parseExecTooList(eq >= 0 ? w.slice(eq + 1) : words[++i], where);
        i++;
        continue;
      }
      key = VALUE_FLAGS[name];
      if (!key) {
        const why = REFUSED[name];
        throw bad(`unsupported docker-run flag ${name}${why ? ` (${why})` : ''}`);
      }
      if (eq >= 0) value = w.slice(eq + 1);
      else {
        if (i + 1 >= words.length) throw bad(`docker-run flag ${name} needs a value`);
        value = words[++i];
      }
    } else {
      // Short flags may be clustered (-it, -dit) and a value-taking one may carry its value (-eK=V, -p80:80).
      let j = 1;
      while (j < w.length) {
        const f = w[j];
        if (SHORT_HARMLESS.has(f)) {
          j++;
          continue;
        }
        if (SHORT_VALUE.has(f)) {
          key = VALUE_FLAGS[`-${f}`];
          const rest = w.slice(j + 1);
          if (rest) value = rest.startsWith('=') ? rest.slice(1) : rest;
          else {
            if (i + 1 >= words.length) throw bad(`docker-run flag -${f} needs a value`);
            value = words[++i];
          }
          break;
        }
        throw bad(`unsupported docker-run flag -${f}${w.length > 2 ? ` (in '${w}')` : ''}`);
      }
      if (!key) {
        i++;
        continue;
      }
    }
    apply(spec, key, value!, bad);
    i++;
  }
  if (i < words.length) spec.cmd = words.slice(i);
  return spec;
}

function apply(spec: RunSpec, key: string, value: string, bad: (m: string) => ConfineError): void {
  switch (key) {
    case 'env': {
      if (!value) throw bad('-e needs KEY=VALUE');
      if (!value.includes('=')) {
        // The CLI would copy the host's value; we do not leak the host environment into images.
        spec.notes.push(`-e ${value} has no value; the host's value is not passed (write ${value}=VALUE)`);
        return;
      }
      if (value.startsWith('=')) throw bad(`-e '${value}': empty variable name`);
      spec.env.push(value);
      return;
    }
    case 'publish':
      spec.ports.push(...parsePublish(value, spec.notes, bad));
      return;
    case 'volume':
      parseVolume(value, spec, bad);
      return;
    case 'entrypoint':
      // The CLI does not split --entrypoint; an empty one resets the image's.
      spec.entrypoint = [value];
      return;
    case 'user':
      if (!value) throw bad('--user needs a value');
      spec.user = value;
      return;
    case 'workdir':
      if (!value.startsWith('/')) throw bad(`--workdir must be an absolute path, found '${value}'`);
      spec.workdir = value;
      return;
    case 'tmpfs': {
      const colon = value.indexOf(':');
      const path = colon < 0 ? value : value.slice(0, colon);
      if (!path.startsWith('/')) throw bad(`--tmpfs must name an absolute path, found '${value}'`);
      spec.tmpfs[path] = colon < 0 ? '' : value.slice(colon + 1);
      return;
    }
    case 'name':
      spec.notes.push(`--name ${value} ignored: confine names nothing, so parallel runs never clash`);
      return;
    case 'network':
      if (value === 'none' || value === 'bridge' || value === 'default') {
        spec.network = value === 'default' ? 'bridge' : value;
      } else if (value === 'host') {
        // Refused like --pid=host, not quietly swapped for a bridge: the image would be
        // profiled in a network other than the one the list asks for, and its service
        // would be reachable on every host address instead of 127.0.0.1 only.
        throw bad(`--network ${value}: sharing the host network namespace is refused (the container would reach every host service, and its ports could not be kept on 127.0.0.1); drop it and publish ports with -p`);
      } else {
        throw bad(`unsupported network '${value}' (only none, bridge and host are understood)`);
      }
      return;
    default:
      throw bad(`internal: unhandled flag key ${key}`);
  }
}

const PORT = /^\d{1,5}(-\d{1,5})?$/;

function parsePublish(value: string, notes: string[], bad: (m: string) => ConfineError): RunSpec['ports'] {
  let proto = 'tcp';
  let spec = value;
  const slash = value.lastIndexOf('/');
  if (slash >= 0) {
    proto = value.slice(slash + 1);
    spec = value.slice(0, slash);
    if (!/^(tcp|udp|sctp)$/.test(proto)) throw bad(`-p ${value}: protocol must be tcp, udp or sctp`);
  }
  // An IPv6 ip is written in brackets: [::1]:8080:80.
  let ip = '';
  const bracket = /^\[([^\]]*)\]:(.*)$/.exec(spec);
  if (bracket) {
    ip = bracket[1];
    spec = bracket[2];
  }
  const parts = spec.split(':');
  let host = '';
  let container: string;
  if (parts.length === 1) container = parts[0];
  else if (parts.length === 2) [host, container] = parts;
  else if (parts.length === 3 && !bracket) [ip, host, container] = parts;
  else throw bad(`-p ${value}: expected [ip:]host:container[/proto]`);
  if (!PORT.test(container) || (host && !PORT.test(host))) throw bad(`-p ${value}: ports must be numbers or ranges like 8000-8010`);
  if (ip && ip !== '127.0.0.1') notes.push(`-p ${value}: bound to 127.0.0.1 instead of ${ip} (confine publishes on loopback only)`);
  const cRange = range(container, value, bad);
  const hRange = host ? range(host, value, bad) : undefined;
  if (hRange && hRange.length !== cRange.length) throw bad(`-p ${value}: host and container port ranges differ in length`);
  return cRange.map((c, k) => ({ containerPort: `${c}/${proto}`, hostPort: hRange ? String(hRange[k]) : '' }));
}

function range(text: string, value: string, bad: (m: string) => ConfineError): number[] {
  const [a, b = a] = text.split('-').map(Number);
  if (a < 1) throw bad(`-p ${value}: port 0 is not a port`);
  if (a > 65535 || b > 65535 || b < a) throw bad(`-p ${value}: ports must be 1-65535 and ranges ascending`);
  if (b - a > 1000) throw bad(`-p ${value}: a range of ${b - a + 1} ports is more than confine publishes`);
  const out: number[] = [];
  for (let p = a; p <= b; p++) out.push(p);
  return out;
}

const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]+$/;
const VOLUME_OPT = /^(ro|rw|z|Z|nocopy|r?shared|r?slave|r?private|consistent|cached|delegated)$/;

function parseVolume(value: string, spec: RunSpec, bad: (m: string) => ConfineError): void {
  const parts = value.split(':');
  if (parts.length === 1) {
    if (!value.startsWith('/')) throw bad(`-v ${value}: an anonymous volume needs an absolute container path`);
    spec.volumes.push(value);
    return;
  }
  if (parts.length > 3) throw bad(`-v ${value}: expected src:dst[:opts]`);
  const [src, dst, opts] = parts;
  if (!dst.startsWith('/')) throw bad(`-v ${value}: the container path must be absolute`);
  if (!src.startsWith('/') && !VOLUME_NAME.test(src)) {
    throw bad(`-v ${value}: the source must be an absolute host path or a volume name (letters, digits, '_', '.', '-')`);
  }
  if (opts !== undefined && !opts.split(',').every((o) => VOLUME_OPT.test(o))) {
    throw bad(`-v ${value}: unknown volume option '${opts}'`);
  }
  spec.binds.push(value);
}

/**
 * Engine API create options for a traced run: the user's spec plus our hardening.
 * Nothing is privileged, no capability is added, ports are reachable only from
 * loopback, and memory, pids and CPU are bounded so a runaway image cannot take the
 * host down while several run at once.
 */
export function toCreateOptions(
  spec: RunSpec,
  image: string,
  labels: Record<string, string>,
  limits: RunLimits = {},
): Dockerode.ContainerCreateOptions {
  const memory = limits.memoryBytes ?? DEFAULT_LIMITS.memoryBytes;
  const exposed: Record<string, {}> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of spec.ports) {
    exposed[p.containerPort] = {};
    (bindings[p.containerPort] ??= []).push({ HostIp: '127.0.0.1', HostPort: p.hostPort });
  }
  const opts: Dockerode.ContainerCreateOptions = {
    Image: image,
    Env: [...spec.env],
    Labels: { ...labels },
    ExposedPorts: exposed,
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    HostConfig: {
      Privileged: false,
      CapAdd: [],
      SecurityOpt: [...(limits.securityOpt ?? [])],
      PortBindings: bindings,
      Binds: [...spec.binds],
      Tmpfs: { ...spec.tmpfs },
      Memory: memory,
      MemorySwap: memory, // no swap on top: the limit is the limit
      PidsLimit: limits.pidsLimit ?? DEFAULT_LIMITS.pidsLimit,
      NanoCpus: limits.nanoCpus ?? DEFAULT_LIMITS.nanoCpus,
      NetworkMode: spec.network ?? 'bridge',
      // An image printing without end must not fill the engine's disk: its log is
      // kept in two files of 10 MB at most, whatever the engine's default driver.
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
      AutoRemove: false, // we remove it ourselves, after reading its exit code and logs
      Init: spec.init ?? false,
    },
  };
  if (spec.volumes.length) opts.Volumes = Object.fromEntries(spec.volumes.map((v) => [v, {}]));
  if (spec.entrypoint) opts.Entrypoint = spec.entrypoint;
  if (spec.cmd) opts.Cmd = spec.cmd;
  if (spec.user) opts.User = spec.user;
  if (spec.workdir) opts.WorkingDir = spec.workdir;
  return opts;
}

/** Older name, kept for callers written against it. */
export type Limits = RunLimits;
