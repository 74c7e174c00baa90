export * from './docker-daemon-config';
export * from './units';
