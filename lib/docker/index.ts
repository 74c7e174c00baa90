// Internal barrel of lib/docker, for the library's modules and tests; the public names are listed in lib/index.ts.
export * from './docker-daemon-config';
export * from './docker-logging';
export * from './docker-prune-schedule';
export * from './registry-mirror-endpoint';
export * from './swarm-mode';
export * from './units';
export * from './image-registry';
