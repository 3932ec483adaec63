/**
 * Objects with at least this much code are decoded in ranges by several workers
 * (analysis/x86/decode-slices.ts); below it a range's hand-off costs more than decoding it in
 * place (libc's 1.3 MB .text stays whole). Its own module: the CLI sizes its worker
 * pool by it without loading the decoder.
 */
export const SPLIT_MIN_BYTES = 2 * 1024 * 1024;
