/**
 * The configuration of a `confine profiles` run, after the CLI checked it. Each stage
 * reads only its slice (see each stage's configSlice), so an option one stage ignores
 * never invalidates its cache entries.
 */
export interface RunConfig {
  /** -l: the seed's glibc call graph. */
  glibcCallgraph?: string;
  /** -m: the seed's musl call graph. */
  muslCallgraph?: string;
  /** -f: the glibc shared object the -l graph was made from. */
  glibcObject?: string;
  /** -n: the musl shared object the -m graph was made from. */
  muslObject?: string;
  /** -i */
  imageList: string;
  /** -o: extracted files, stored once each by sha256. */
  outDir: string;
  /** -p: Docker's default profile (or the seed's `{"default": [...]}` form). */
  defaultProfile?: string;
  /** -r: profiles and reports. */
  resultsDir: string;
  /** --forms: profile forms written besides Docker's (the OCI runtime-spec form, a Kubernetes SPO object). */
  forms: ('oci' | 'spo')[];
  /** -g: DIR/IMAGE.syscalls lists added to an image's profile. */
  goSyscallsDir?: string;
  /** -c: other libraries' call graphs in the seed's format. */
  otherCallgraphsDir?: string;
  debug: boolean;
  finegrained: boolean;
  allBinaries: boolean;
  /**
   * --narrow-past-unknown-sites: narrow the profile even when a reached syscall site's
   * number is unknown (a syscall made there may be blocked). Off by default: such an
   * image keeps the base profile and is reported "not hardened" (--strict, the old name
   * for that default, is accepted and changes nothing).
   */
  narrowPastUnknownSites: boolean;
  /**
   * --exec-too: programs an operator may run with `docker exec` (`shell`, names, paths),
   * analysed like executed ones; an image's own `--exec-too` in the list replaces it.
   */
  execToo?: string[];
  durationSec: number;
  /** --verify: run each image under its profile (and again logging) to find false negatives. */
  verify: boolean;
  /** How long each verify run lasts. */
  verifyDurationSec: number;
  /** --probes: JSON file of per-image probes run against 127.0.0.1 while tracing (run-and-trace) and during verify. */
  probesFile?: string;
  jobs: number;
  cacheDir: string;
}
