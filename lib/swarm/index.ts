// Internal barrel of lib/swarm, for the library's modules and tests; the public names are listed in lib/index.ts.
export * from './swarm-service';
export * from './swarm-service-spec';
export * from './swarm-project';
export * from './swarm-stack';
export { composeService, composeProject } from './swarm-compose';
export { guaranteedNodes } from './swarm-capacity';
export * from './swarm-cluster';
