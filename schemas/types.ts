/* eslint-disable */
// Generated from schemas/*.schema.json by scripts/gen-schema-types.ts — do not edit; run `npm run schemas`.

// analyze-program.schema.json
export type AnalyzeSyscallList = number[];

/**
 * One program's whole answer from `confine analyze` (system/host/stored-analysis.ts), cached under its inputs' contents: the whole-program walk's result with its Sets and Maps as arrays, in their iteration order, so reading it back gives the same answer.
 */
export interface AnalyzeProgramArtifact {
  path: string;
  /**
   * Libraries not found or not analysable, as the table prints them.
   */
  missing: string[];
  /**
   * For Go binaries: what the Go analysis found (analysis/golang/); the same shape as the elf-scan artifact's `go`.
   */
  go?: {
    version?: string;
    modulePath?: string;
    functions: number;
    sitesResolved: number;
    sitesUnresolved: number;
    syscalls: number;
  };
  /**
   * analysis/link/link.ts ProgramResolution.
   */
  resolution: {
    syscalls: AnalyzeSyscallList;
    withoutIndirectRule: AnalyzeSyscallList;
    wholeProgramAT: AnalyzeSyscallList;
    withoutValueLayer: AnalyzeSyscallList;
    targets: {
      reachable: number;
      wholeProgram: number;
    };
    indirectRuleFired: boolean;
    perObject: {
      path: string;
      functions: number;
      reachedFunctions: number;
      syscalls: AnalyzeSyscallList;
    }[];
    unresolvedSites: {
      object: string;
      site: number;
      function: string;
      reason: string;
    }[];
    unresolvedImports: {
      object: string;
      import: string;
    }[];
    /**
     * For each syscall, one shortest chain from an entry point (the Map's entries in order).
     */
    provenance: {
      syscall: number;
      steps: AnalyzeChainStep[];
      /**
       * The syscall instruction's address (or a wrapper's, for numbers passed to one); -1 when the walk's edge carried none.
       */
      site: number;
      siteObject: string;
      /**
       * When the site is made only under a guard (the value layer): the value that kept it.
       */
      kept?: string;
    }[];
    graph: {
      nodes: number;
      edges: number;
    };
    /**
     * Tracked syscalls' argument values (analysis/link/arg-rules.ts), the Map's entries in order.
     */
    argRules: {
      syscall: number;
      arg: number;
      values: number[];
      origins: {
        value: number;
        object: string;
        function: string;
        steps: AnalyzeChainStep[];
      }[];
      unconditional?: {
        object: string;
        site: number;
        function: string;
        reason: string;
      };
    }[];
    /**
     * Hashes (analysis/summary/name-hashes.ts) of the names reached code refers to.
     */
    reachedNames: number[];
  };
}
export interface AnalyzeChainStep {
  object: string;
  function: string;
  /**
   * How this step was entered from the previous one (analysis/link/types.ts ChainStep).
   */
  via?: string;
  takenBy?: string;
  /**
   * For a step entered through a guarded edge (the value layer): the value that kept it.
   */
  kept?: string;
}

// calibration.schema.json
/**
 * The syscalls the container runtime makes after installing the seccomp filter (runc's init), measured on this engine: every profile must allow them.
 */
export interface CalibrationArtifact {
  engine: string;
  runtime: string;
  syscalls: string[];
  runs: number;
  /**
   * Kernel log records lost while measuring; non-zero means the set may be short.
   */
  lostRecords: number;
  /**
   * For each syscall argument rules are written for that the runtime makes after the filter: the argument values its init passed (low 32 bits), from tracefs entry events over every run. A tracked runtime syscall missing here was not measured: it stays unconditional.
   */
  args?: {
    [k: string]: number[];
  };
  /**
   * Why some or all arguments could not be measured (no tracefs syscall entry events on this kernel).
   */
  argsUnmeasured?: string;
}

// callgraph.schema.json
/**
 * A call graph in adjacency form: function → callees, and function → syscall numbers it makes directly.
 */
export interface CallgraphArtifact {
  source: string;
  calls: {
    [k: string]: string[];
  };
  syscalls: {
    [k: string]: number[];
  };
  /**
   * Function → how many of its syscall sites have a number the graph does not give.
   */
  unresolvedSyscalls: {
    [k: string]: number;
  };
  /**
   * Functions making indirect calls the graph cannot follow.
   */
  indirectCallers: string[];
  errorCount: number;
  /**
   * The first malformed lines (file:line), capped.
   */
  errors: {
    file: string;
    line: number;
    text: string;
    expected: string;
  }[];
}

// cfgs.schema.json
/**
 * The call graphs load-cfgs loaded (the seed's formats): one summary per file; the graphs themselves are callgraph artifacts keyed by file digest.
 */
export interface CfgsArtifact {
  graphs: {
    role: "glibc" | "musl" | "other";
    source: string;
    digest: string;
    /**
     * Cache key of the parsed callgraph artifact.
     */
    graphKey: string;
    functions: number;
    edges: number;
    syscallFunctions: number;
    errorCount: number;
    /**
     * The first malformed lines (file:line), capped.
     */
    errors: {
      file: string;
      line: number;
      text: string;
      expected: string;
    }[];
  }[];
}

// elf-scan.schema.json
/**
 * Where a wrapper takes a value at its entry (the syscall number, or an argument such as a socket family): a register, or a stack slot as offset from %rsp at entry.
 */
export type ParamLoc =
  | (
      | "rax"
      | "rcx"
      | "rdx"
      | "rbx"
      | "rsp"
      | "rbp"
      | "rsi"
      | "rdi"
      | "r8"
      | "r9"
      | "r10"
      | "r11"
      | "r12"
      | "r13"
      | "r14"
      | "r15"
    )
  | {
      stack: number;
    };

/**
 * What symbol-scan learnt from one file, keyed by the file's content digest so a library shared by many images is scanned once.
 */
export interface ElfScanArtifact {
  digest: string;
  size: number;
  format: "elf" | "not-elf" | "malformed";
  error?: string;
  dynamic?: {
    elfClass: 32 | 64;
    machine: number;
    type: "exec" | "dyn" | "rel" | "core" | "other";
    isPie: boolean;
    isStatic: boolean;
    interp?: string;
    needed: string[];
    runpath: string[];
    rpath: string[];
    soname?: string;
  };
  analysis?: ObjectSummary;
  /**
   * For Go binaries: what the Go analysis found (analysis/golang/).
   */
  go?: {
    version?: string;
    modulePath?: string;
    functions: number;
    sitesResolved: number;
    sitesUnresolved: number;
    syscalls: number;
  };
}
/**
 * Per-object summary for the whole-program walk (analysis/summary/object-summary.ts). Functions are referred to by their index in `functions`, imports by their index in `imports`.
 */
export interface ObjectSummary {
  functions: {
    /**
     * start address
     */
    a: number;
    /**
     * a symbol name for it
     */
    n?: string;
    /**
     * successor functions in this object: direct calls, tail calls, jumps into, IFUNC implementations
     */
    e?: number[];
    /**
     * imports it calls or jumps to through PLT stubs
     */
    i?: number[];
    /**
     * syscall numbers this function's code supplies, by syscall site (own sites, and constants it passes to wrapper functions of this object)
     */
    s?: {
      at: number;
      nr: number[];
    }[];
    /**
     * has an indirect call
     */
    ic?: boolean;
    /**
     * has an indirect jump
     */
    ij?: boolean;
    /**
     * functions of this object whose address this function's code materialises (lea, mov imm): indirect-call targets once this function is reached
     */
    t?: number[];
    /**
     * data regions (indexes into `regions`) this function's code refers into: live once this function is reached
     */
    d?: number[];
    /**
     * FNV-1a hashes of the name-like strings (symbols, library names and paths) this function's code refers to (names it could pass to dlsym or dlopen)
     */
    h?: number[];
    /**
     * imports whose address this function's code materialises (a PLT stub's address in position-dependent code): indirect-call targets once this function is reached
     */
    ti?: number[];
    /**
     * guards (issue 26): items of this function reached only under a condition on an entry value: EVERY path from the function's entry to EVERY instruction making a listed call/jump/syscall passes a conditional branch edge on which the condition holds for the unmodified entry value (analysis/x86/param-guards.ts). An item is in at most one guard; items stay listed in e/i/s
     */
    g?: Guard[];
    /**
     * values this function passes to guarded register parameters of local callees, per callee and parameter; no entry for (f,p) means unknown at some call site
     */
    gv?: GuardedCallValues[];
    /**
     * constant arguments at this function's calls/tail jumps to imports; no entry for (i,p) means unknown at some call
     */
    ia?: ImportArgConstants[];
  }[];
  /**
   * imported symbols, `name@VERSION` or bare `name`
   */
  imports: string[];
  exports: {
    /**
     * `name@@VER` (default), `name@VER` or `name`
     */
    name: string;
    fn: number;
  }[];
  /**
   * function of e_entry
   */
  entry?: number;
  /**
   * preinit/init/fini arrays and DT_INIT/DT_FINI functions
   */
  inits: number[];
  /**
   * functions whose address is taken (code, RELATIVE/GLOB_DAT/64 relocations, init/fini arrays, IFUNC resolvers, data of non-PIE executables)
   */
  addressTaken: number[];
  /**
   * imports whose address this object stores (GLOB_DAT, R_X86_64_64): the providing object's function is address-taken
   */
  importsAddressTaken: number[];
  /**
   * exported functions whose syscall number is a parameter
   */
  paramWrappers: {
    fn: number;
    loc: ParamLoc;
    site: number;
  }[];
  /**
   * constants passed to imported wrapper candidates (libc's syscall()), by the function where each constant is found
   */
  importArgs: {
    import: number;
    loc: ParamLoc;
    uses: {
      fn: number;
      nr: number[];
    }[];
  }[];
  /**
   * argument values of tracked syscalls (analysis/x86/syscall-args.ts TRACKED_ARGS: socket families, ioctl requests, clone/unshare flags, prctl options, personality): per syscall instruction with a tracked constant number (`site`, `fn`), or per tracked import wrapper (`import`: values found at this object's calls to it). Absent: the object's arguments were not analysed, so every tracked syscall it makes is unconditional.
   */
  args?: {
    nr: number;
    arg: number;
    /**
     * the syscall instruction
     */
    site?: number;
    /**
     * function holding the syscall instruction
     */
    fn?: number;
    /**
     * the wrapper import whose argument this object's call sites supply
     */
    import?: number;
    /**
     * findings: values (or a failure) possible once function `fn` runs
     */
    f: {
      fn: number;
      v: number[];
      /**
       * the value is not known on some path
       */
      why?: string;
      at?: number;
    }[];
    /**
     * exported functions whose parameter carries the argument: their importers supply it
     */
    w?: {
      fn: number;
      loc: ParamLoc;
      /**
       * operations applied, in order, to the importer's value to give the argument (analysis/x86/effects.ts XfOp; low 32 bits)
       */
      xf?: (
        | {
            f: "set" | "add" | "and" | "or" | "xor";
            bits: 8 | 16 | 32;
            shift: 0 | 8;
            imm: number;
          }
        | {
            f: "ext";
            bits: 8 | 16;
            shift: 0 | 8;
            signed: boolean;
            into: 16 | 32;
          }
      )[];
    }[];
    /**
     * functions whose entry value was followed into their direct callers: entered any other way (indirect call, dlsym, a root), the value is unknown
     */
    p?: number[];
  }[];
  unresolved: {
    site: number;
    /**
     * the function whose reach makes this unknown number possible
     */
    fn: number;
    reason: string;
  }[];
  stats: {
    instructions: number;
    syscallSites: number;
    unknownTargets: number;
  };
  /**
   * data regions that hold pointers (analysis/summary/data-regions.ts), each made live by reached code or live regions; only those with cells are listed
   */
  regions?: {
    /**
     * start address
     */
    a: number;
    /**
     * cells: [word address, kind (0 function, 1 region, 2 import, 3 the FNV-1a hash of a name-like string it points at), target]
     */
    c: [number, number, number][];
  }[];
  /**
   * regions live whatever runs (TLS images, init/fini arrays, personality pointers)
   */
  rootRegions?: number[];
  /**
   * functions that are indirect-call targets whatever runs (personality routines; every address-taken function when the code's data references were not recorded)
   */
  takenAlways?: number[];
  /**
   * exported data symbols whose region holds pointers
   */
  dataExports?: {
    name: string;
    r: number;
  }[];
}
export interface Guard {
  /**
   * the value tested: param p's value at entry
   */
  v: {
    p: ParamLoc;
    /**
     * with w: the value is the w-byte word at [entry value of p + off], read before this function (or anything it calls first) could store to memory
     */
    off?: number;
    w?: 1 | 2 | 4 | 8;
  };
  /**
   * the items are reachable only if cond(value): (value&k)!=0, (value&k)==0, value==k, value!=k
   */
  c: {
    op: "and-nz" | "and-z" | "eq" | "ne";
    /**
     * unsigned, truncated to the tested width (w bytes, or 4/8 for registers)
     */
    k: number;
  };
  /**
   * direct callees / tail-jump targets (indexes into functions) reached only under it
   */
  e?: number[];
  /**
   * imports (indexes into imports) called/jumped to only under it
   */
  i?: number[];
  /**
   * syscall sites (`at` of this function's `s` entries) reached only under it
   */
  s?: number[];
}
/**
 * f's parameter p at this function's calls/tail jumps to f: the constants `v`, and/or (`from`) this function's own entry value of that parameter, unchanged
 */
export interface GuardedCallValues {
  /**
   * callee index (a function with a guard on a register param or on a word read through one)
   */
  f: number;
  p: ParamLoc;
  /**
   * at most 8 constants (low 32 bits, unsigned) p holds at the calls/tail jumps from this function to f
   */
  v?: number[];
  from?: ParamLoc;
}
export interface ImportArgConstants {
  /**
   * import index
   */
  i: number;
  p: ParamLoc;
  /**
   * the at most 8 constants (low 32 bits, unsigned) p holds at every call to import i from this function
   */
  v: number[];
}

// extract.schema.json
/**
 * The files extract-binaries took from an image, each stored once by content under -o.
 */
export interface ExtractArtifact {
  /**
   * Digest of the image's ordered RootFS layer diff IDs: the files depend on it, not on the image ID.
   */
  layerChain: string;
  files: {
    /**
     * As executed, needed or mapped, inside the image.
     */
    path: string;
    /**
     * After following symlinks inside the image root.
     */
    resolvedPath: string;
    role:
      | "executed"
      | "interpreter"
      | "needed"
      | "mapped"
      | "dlopen"
      | "script-interpreter"
      | "exec-candidate"
      | "exec-too"
      | "all";
    neededBy?: string;
    /**
     * For an exec candidate: every path string that names it (aliases, a script it interprets); any of them activates it.
     */
    activatedBy?: string[];
    digest: string;
    size: number;
  }[];
  missing: {
    name: string;
    neededBy: string;
  }[];
  notScanned: {
    path: string;
    reason: string;
  }[];
  /**
   * --exec-too: programs an operator may run with docker exec, found in the image and analysed like executed ones.
   */
  execToo?: {
    /**
     * The list as asked ('shell' kept as such).
     */
    asked: string[];
    programs: {
      /**
       * As asked, or a common tool of 'shell'.
       */
      name: string;
      /**
       * Where the runtime finds it in the image.
       */
      path: string;
    }[];
    /**
     * Common tools of the 'shell' shorthand the image does not have.
     */
    missingTools: string[];
  };
  /**
   * What of the image's loader configuration was ignored (as ld.so ignores it) or cut short; image text, escape before printing.
   */
  notes?: string[];
}

// profile.schema.json
/**
 * profile-emit's record of the Docker seccomp profile it wrote for one image.
 */
export interface ProfileArtifact {
  /**
   * --exec-too: what allowing the exec programs (and the runtime's docker exec path) costs this profile.
   */
  execToo?: {
    asked: string[];
    programs: {
      name: string;
      path: string;
    }[];
    missingTools: string[];
    /**
     * How many syscalls the profile would allow without them (allowedCount is with them).
     */
    allowedWithout: number;
    /**
     * Each syscall allowed only because of them, with what needs it: exec programs by path, or the runtime's docker exec path.
     */
    added: {
      syscall: string;
      by: string[];
    }[];
  };
  imageId: string;
  imageName: string;
  profileFile: string;
  /**
   * The written profile's content: what runs under it (verify) depends on every byte, argument rules and architectures included, not only on the allowed names.
   */
  profileSha256?: string;
  /**
   * The other forms written beside it (--forms oci, spo) and their content: one missing or edited is written again on the next run.
   */
  formFiles?: {
    file: string;
    sha256: string;
  }[];
  allowed: string[];
  allowedCount: number;
  blockedCount: number;
  dockerDefaultAllowedCount: number;
  /**
   * Added without being found by analysis: what the container runtime makes after the filter is installed (measured by calibration) and what the kernel makes a task enter on its own (restart_syscall).
   */
  runtimeSyscalls: string[];
  /**
   * Allowed although Docker's default profile does not allow them.
   */
  addedBeyondDefault: string[];
  /**
   * Reached syscall sites whose number was not recovered (syscall-resolve lists them).
   */
  unresolvedSites: number;
  /**
   * Present when the image is not hardened: some reached syscall site has an unknown number (and --narrow-past-unknown-sites was not given), so the image gets the base profile (Docker's default, or -p) whole, plus anything it needs beyond it. The reason names the sites and why.
   */
  fallback?: {
    reason: string;
  };
  /**
   * Syscalls the profile allows only for some argument values (one rule per value), and tracked syscalls left unconditional with why.
   */
  argRules?: {
    name: string;
    arg: number;
    /**
     * values the profile allows
     */
    values?: number[];
    /**
     * values the program may use that the base profile already refuses
     */
    refusedByBase?: number[];
    /**
     * why no condition was written
     */
    unconditional?: string;
  }[];
  /**
   * For each compat syscall ABI of an x86-64 host (i386: int $0x80, sysenter, 32-bit programs; x32: syscall numbers with bit 30 set), whether the written profile admits it and why: kept only when reached code uses it. Absent: the profile is not narrowed (the base's ABIs).
   */
  abis?: {
    abi: "i386" | "x32";
    kept: boolean;
    reason: string;
  }[];
}

// resolve.schema.json
/**
 * The syscalls an image can reach, per binary and in union, with where each set came from.
 */
export interface ResolveArtifact {
  /**
   * --exec-too: the programs an operator may run with docker exec, and what they add to the syscalls the container itself can reach.
   */
  execToo?: {
    asked: string[];
    programs: {
      name: string;
      path: string;
    }[];
    missingTools: string[];
    /**
     * Each syscall only the exec programs (and what they may run in turn) reach, with the exec programs behind it.
     */
    added: {
      syscall: string;
      programs: string[];
    }[];
  };
  /**
   * How the set was computed, e.g. 'static-analysis' or 'seed-callgraph'.
   */
  method: string;
  syscalls: string[];
  perBinary: {
    path: string;
    syscalls: string[];
    unresolvedSites: number;
  }[];
  /**
   * Programs the image executes (or may run) that are 32-bit x86: i386 (ELFCLASS32, EM_386) or x32 (ELFCLASS32, EM_X86_64). Their code is not analysed, so the image's profile is the base profile whole, with that ABI.
   */
  compatPrograms?: {
    path: string;
    abi: "i386" | "x32";
  }[];
  /**
   * Syscalls added by -g DIR/IMAGE.syscalls.
   */
  overrides: string[];
  /**
   * How many distinct reached syscall sites have a number the analysis could not recover (the length of `unresolved`).
   */
  unresolvedSites: number;
  /**
   * Every reached syscall site (one per object and address) whose number was not recovered on some path: a syscall made there may be missing from the profile. Never dropped: shown in the run summary, the report and `confine explain`; the image's profile then falls back to the base (Docker's default): not hardened, unless --narrow-past-unknown-sites.
   */
  unresolved: {
    /**
     * The object holding the syscall instruction (path inside the image).
     */
    object: string;
    /**
     * Address of the syscall instruction (or of the wrapper call whose number argument is unknown).
     */
    site: number;
    function: string;
    /**
     * Why the backward walk gave up, per path.
     */
    reasons: string[];
    /**
     * The programs (or dlopened objects) whose walk reached the site.
     */
    binaries: string[];
  }[];
  /**
   * For each allowed syscall, one shortest chain from an executed program's entry to the syscall site (for `confine explain`).
   */
  provenance: {
    [k: string]: {
      binary: string;
      site: number;
      siteObject: string;
      /**
       * when the site is made only under a guard (the value layer, issue 26): the value that kept it
       */
      kept?: string;
      steps: {
        object: string;
        function: string;
        via?: string;
        /**
         * for a step entered through an indirect call: the code or data word holding its address, and what made that live
         */
        takenBy?: string;
        /**
         * for a step entered through a guarded edge (the value layer, issue 26): the value that kept the edge
         */
        kept?: string;
      }[];
    };
  };
  /**
   * The image's syscalls under each indirect-call rule (union over its programs): direct edges only; targets only what reached code and live data point at (the profile's rule); sysfilter's whole-program address-taken rule. Shows what the refinement gains.
   */
  byRule?: {
    directOnly: string[];
    reachableAT: string[];
    wholeProgramAT: string[];
  };
  /**
   * Argument rules for tracked syscalls the image reaches (socket families, ioctl requests, clone/unshare flags, prctl options, personality), by syscall name: the values reached sites use, each with one chain to a function supplying it, or `unconditional` with the first reached site whose value is not known. Absent: no argument rules (every syscall unconditional).
   */
  argRules?: {
    [k: string]: {
      /**
       * argument index
       */
      arg: number;
      /**
       * allowed values (empty when unconditional)
       */
      values: {
        value: number;
        /**
         * symbolic name (AF_INET)
         */
        name?: string;
        binary: string;
        /**
         * the object of the function that supplies the value
         */
        object: string;
        function: string;
        steps: {
          object: string;
          function: string;
          via?: string;
          /**
           * for a step entered through an indirect call: the code or data word holding its address, and what made that live
           */
          takenBy?: string;
        }[];
      }[];
      /**
       * the first reached site (or source) whose value is not known: the syscall stays allowed without condition
       */
      unconditional?: {
        binary: string;
        object: string;
        site: number;
        function: string;
        reason: string;
      };
    };
  };
}

// stats.schema.json
/**
 * Batch-wide figures over every image in the list; the report and stats files written under -r.
 */
export interface StatsArtifact {
  /**
   * Images whose profile was emitted (failed images are in the run summary, not here).
   */
  profiled: number;
  /**
   * Median allowed count over hardened images.
   */
  medianAllowed: number | null;
  /**
   * Syscalls Docker's default profile allows (no added caps).
   */
  dockerDefaultAllowed: number;
  /**
   * x86-64 syscalls in the table the counts are relative to.
   */
  universe: number;
  totals: {
    total: number;
    launched: number;
    stillRunning: number;
    hardened: number;
  };
  perImage: {
    name: string;
    allowed: number;
    blocked: number;
    /**
     * Blocked although Docker's default profile allows it.
     */
    blockedBeyondDefault: number;
    /**
     * CVEs of formats/report/data/cve-to-syscall-arg.csv the written profile closes with argument conditions (formats/report/cve-args.ts) and the syscall-level CVE list does not count.
     */
    cvesMitigatedByArgRules: string[];
  }[];
  /**
   * CVEs reachable only through some argument values of a syscall, and the images whose profile closes them by argument rules: apart from the syscall-level CVE figures.
   */
  argRuleCves: {
    /**
     * CVEs in the argument list.
     */
    listed: number;
    /**
     * Of those, closed by argument rules in at least one hardened image.
     */
    mitigatedInSomeImage: number;
    perCve: {
      id: string;
      /**
       * Ways in, e.g. 'socket domain AF_PACKET'.
       */
      paths: string[];
      /**
       * Images whose argument rules close it.
       */
      mitigatedIn: string[];
    }[];
  };
  /**
   * Report, stats CSV and HTML files written.
   */
  files: string[];
}

// symbols.schema.json
/**
 * symbol-scan's per-image index: every extracted file and the key of its per-file scan.
 */
export interface SymbolsArtifact {
  /**
   * --exec-too: programs an operator may run with docker exec, as extract found them (extract's execToo).
   */
  execToo?: {
    /**
     * The list as asked ('shell' kept as such).
     */
    asked: string[];
    programs: {
      /**
       * As asked, or a common tool of 'shell'.
       */
      name: string;
      /**
       * Where the runtime finds it in the image.
       */
      path: string;
    }[];
    /**
     * Common tools of the 'shell' shorthand the image does not have.
     */
    missingTools: string[];
  };
  files: {
    path: string;
    role: string;
    /**
     * What brought the file in (extract's neededBy).
     */
    neededBy?: string;
    /**
     * For an exec candidate: the path strings any of which activates it (extract's activatedBy).
     */
    activatedBy?: string[];
    digest: string;
    scanKey: string;
    format: "elf" | "not-elf" | "malformed";
  }[];
}

// trace.schema.json
/**
 * What run-and-trace saw a container do during its trace window.
 */
export interface TraceArtifact {
  /**
   * The image as the user named it (tag); informational only.
   */
  imageRef: string;
  imageId: string;
  containerId?: string;
  startedAt: string;
  durationSec: number;
  exitedEarly: boolean;
  exitCode?: number;
  execs: {
    pid: number;
    ppid?: number;
    path: string;
    comm?: string;
    tMs: number;
  }[];
  /**
   * Unique executed paths, inside the container root.
   */
  executedPaths: string[];
  /**
   * Files the container's processes mapped at run time (dlopen'd libraries), inside the container root.
   */
  mappedObjects: string[];
  /**
   * The mappedObjects mapped with execute permission (code): one that is not a file of the image (written at run time, on a volume) fails the image at extract-binaries.
   */
  mappedCode?: string[];
  logTail: string;
  notes: string[];
  /**
   * Only for an image with a probe: how its requests fared during the trace window. A trace whose probe never passed is traced again on the next run instead of being reused: programs the server runs only for a request may be missing from it.
   */
  probeWindow?: {
    /**
     * The probe passed at least once before the window ended.
     */
    ready: boolean;
    passed: number;
    failed: number;
  };
}

// verify.schema.json
/**
 * Ground truth for one image's profile: the image run under it with its probe, and again with defaultAction LOG; every syscall the kernel logged for the container is a false negative.
 */
export interface VerifyArtifact {
  imageId: string;
  profileFile: string;
  profileSha256: string;
  /**
   * The probe that was run, as declared.
   */
  probe?: string;
  probeOk?: boolean;
  probeDetail?: string;
  falseNegatives: {
    name: string;
    syscall: number;
    comm: string;
    exe: string;
    count: number;
  }[];
  /**
   * Logged records that could not be tied to this container (another logged run was active).
   */
  unattributed: number;
  exitedEarly: boolean;
  lostRecords: number;
  logTail: string;
}
