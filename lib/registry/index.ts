// Internal barrel of lib/registry, for the library's modules and tests; the public names are listed in lib/index.ts.
export * from './registry-endpoint';
export * from './registry-config';
export * from './proxy-login';
export * from './registry-mirror';
export * from './docker-host-registry-mirror';
