export * from './offline';
export * from './schemas';
export * from './signing';
