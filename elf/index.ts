export * from './dynamic-info';
export { malformed } from './byte-view';
