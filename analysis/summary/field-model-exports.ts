/**
 * The exported functions a library value model (analysis/link/value-models.ts) reads a
 * word through a parameter of. A word read through an argument gets a value from such a
 * model only, so only an object exporting one of these has its field tests scanned
 * (guard-facts.ts): everywhere else they could never be decided, and cost a scan of most
 * C++ methods. value-models.test.ts checks that every model's exports are listed here.
 */
export const FIELD_MODEL_EXPORTS: ReadonlySet<string> = new Set([
  'pthread_mutex_lock', 'pthread_mutex_trylock', 'pthread_mutex_timedlock', 'pthread_mutex_clocklock', 'pthread_mutex_unlock',
  '__pthread_mutex_lock', '__pthread_mutex_trylock', '__pthread_mutex_unlock',
]);
