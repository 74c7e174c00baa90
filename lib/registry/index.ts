export * from './registry-endpoint';
export * from './registry-config';
export * from './proxy-login';
export * from './registry-mirror';
export * from './docker-host-registry-mirror';
