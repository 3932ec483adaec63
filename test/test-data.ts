import * as path from 'node:path';
import { DEFAULT_PROFILE_FILE } from '../formats/profile/read-profile';

/**
 * Reference data the tests read, all inside the checkout (test/data/README.md says where
 * each file comes from). Files the product itself ships are read from the product's copy,
 * so a test checks what users run rather than a second copy that could drift.
 */
export const TEST_DATA_DIR = path.join(__dirname, 'data');
/** The seed's data files, in the seed's own layout (images.list, libc-callgraphs/, …). */
export const SEED_DIR = path.join(TEST_DATA_DIR, 'seed');
/** Docker's (moby) default seccomp profile: the one confine ships as its default base. */
export const DOCKER_DEFAULT_PROFILE = DEFAULT_PROFILE_FILE;
/** The seed's CVE map (`-c` of createStats), shipped as the stats stage's default. */
export const SEED_CVE_MAP = path.join(__dirname, '..', 'formats', 'report', 'data', 'cve-to-syscall.csv');
/** The seed's published profile.report.csv, shipped for the HTML report's comparison line. */
export const SEED_SAMPLE_REPORT = path.join(__dirname, '..', 'formats', 'report', 'data', 'seed-sample.profile.report.csv');
