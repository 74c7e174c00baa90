export * from './swarm-service';
export * from './swarm-stack';
