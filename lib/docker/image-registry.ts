import { parseImageReference } from '../core/images';

/** Docker Hub's registry as the engine names it in logins (`docker login` with no server). */
export const DOCKER_HUB_HOST = 'docker.io';
// Names the engine treats as Docker Hub when it looks up a login.
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/**
 * The registry host an image is pulled from, as the Docker engine decides it: the first path component when it
 * holds a `.` or `:` or is `localhost`, else Docker Hub (`docker.io`).
 */
export function imageRegistryHost(image: string): string {
  const name = parseImageReference(image)?.name ?? image;
  const first = name.split('/')[0];
  const explicit = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return explicit ? normalizeRegistryHost(first) : DOCKER_HUB_HOST;
}

/** A registry address (`ghcr.io`, `https://index.docker.io/v1/`, `10.0.0.5:5000`) reduced to the host key logins are matched by. */
export function normalizeRegistryHost(address: string): string {
  const host = address
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB_HOST : host;
}
