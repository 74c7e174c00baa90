// The mirror interface belongs to the Docker daemon that consumes it; re-exported here for existing imports.
export { DOCKER_HUB_REGISTRY, IRegistryMirror, isDockerHub } from '../docker/registry-mirror-endpoint';
