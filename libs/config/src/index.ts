export * from './env.js';
export * from './yaml-file.js';
export * from './gateway-files.js';
export * from './dir-signature.js';
export * from './json-schemas.js';
export * from './primitives.js';
export * from './trusted-peers.js';
export * from './admins.js';
