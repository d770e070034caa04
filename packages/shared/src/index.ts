export * from './errors';
export * from './fingerprint/types';
export * from './license/types';
