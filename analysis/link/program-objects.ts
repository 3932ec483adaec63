import type { ProgramInput, ProgramObject } from './types';

/** The objects of one program, each once, in the order their node ids are numbered. */
export interface ProgramObjects {
  /** The executable, the libraries in load order, the loader (once). */
  objects: ProgramObject[];
  /** Index of the dynamic loader in `objects`, if the program has one. */
  loaderIdx: number | undefined;
}

export function programObjects(input: ProgramInput): ProgramObjects {
  const objects: ProgramObject[] = [input.executable];
  const listed = new Set<string>([input.executable.path]);
  for (const l of input.libraries) {
    if (listed.has(l.path)) continue;
    listed.add(l.path);
    objects.push(l);
  }
  let loaderIdx: number | undefined;
  if (input.loader) {
    loaderIdx = objects.findIndex((o) => o.path === input.loader!.path);
    if (loaderIdx < 0) {
      loaderIdx = objects.length;
      objects.push(input.loader);
    }
  }
  return { objects, loaderIdx };
}

/** A function's name in reports: its symbol, else its address. */
export function fnName(ob: ProgramObject, f: number): string {
  const fn = ob.summary.functions[f];
  return fn.n ?? `0x${fn.a.toString(16)}`;
}

/** Cell kinds in ObjectSummary.regions (analysis/summary/object-summary.ts). */
export const CELL_FN = 0;
export const CELL_REGION = 1;
export const CELL_IMPORT = 2;
export const CELL_NAME = 3;
