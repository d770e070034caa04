export * from './api';
export * from './errors';
export * from './fingerprint';
export * from './jcs';
export * from './keys';
export * from './koogallery';
export * from './license';
export * from './licenseCode';
