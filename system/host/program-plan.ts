import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { readDynamicInfo, type DynamicInfo } from '../../analysis/elf';
import { openInRoot, resolveLoadOrder, type FoundObject, type LibraryListing, type LoadOrder, type ObjectFiles, type ObjectReader } from './host-resolver';

/** What one program needs before any scan: its bytes and where its libraries are. */
export interface ProgramPlan {
  rootPath: string;
  /** Read when first asked for, when the reader could plan without them. */
  readonly bytes: Uint8Array;
  /** `sha256:` digest of the bytes, when the reader knew it. */
  digest?: string;
  info?: DynamicInfo;
  order?: LoadOrder;
  /** Why the load order could not be found; thrown only if the scan says the file is analysable. */
  failure?: unknown;
}

/**
 * Reads what a program needs before any scan: its dynamic section and the load order ld.so
 * would build under `root`. A failure is kept in the plan, not thrown: it matters only if
 * the scan says the file is analysable.
 */
export function planProgram(root: string, rootPath: string, files?: ObjectFiles, listing?: LibraryListing, read?: ObjectReader): ProgramPlan {
  // Through the run's cache of objects, under the key the load-order search opens it by: a
  // program another program loads, or that the dlopen-candidate search opens again, is read and hashed once.
  const opened = read ? openInRoot(root, rootPath, rootPath, files, read) : undefined;
  if (opened) {
    // The getter stays a getter: spreading `opened` would read the file.
    const plan = (rest: Pick<ProgramPlan, 'info' | 'order' | 'failure'>): ProgramPlan => ({
      rootPath,
      get bytes() {
        return opened.bytes;
      },
      digest: opened.digest,
      ...rest,
    });
    try {
      return plan({ info: opened.info, order: resolveLoadOrder(root, rootPath, opened.info, files, listing, read) });
    } catch (failure) {
      return plan({ failure });
    }
  }
  // Not an ELF object the reader takes (or no reader): read now; the scan says why it is not analysable.
  const bytes = readFileSync(path.join(root, rootPath));
  try {
    const info = readDynamicInfo(bytes, rootPath);
    return { rootPath, bytes, info, order: resolveLoadOrder(root, rootPath, info, files, listing, read) };
  } catch (failure) {
    return { rootPath, bytes, failure };
  }
}

/** An object of a planned program: its bytes are read only when asked for. */
export type PlannedObject = Pick<FoundObject, 'bytes' | 'rootPath' | 'digest'>;

/** Every object of the program (executable, libraries, loader), the executable first; none read yet. */
export function objectsOf(plan: ProgramPlan): PlannedObject[] {
  const o = plan.order;
  const exe: PlannedObject = {
    rootPath: plan.rootPath,
    get bytes() {
      return plan.bytes;
    },
    digest: plan.digest,
  };
  return [exe, ...(o?.libraries ?? []), ...(o?.loader ? [o.loader] : []), ...(o?.candidates ?? []).map((c) => c.object)];
}

