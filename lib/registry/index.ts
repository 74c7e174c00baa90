export * from './registry-endpoint';
export * from './registry-config';
export * from './registry-mirror';
export * from './docker-host-registry-mirror';
