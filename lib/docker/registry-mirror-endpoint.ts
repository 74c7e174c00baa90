/** What a registry mirror offers to its consumers (Docker daemons, containerd hosts). */
export interface IRegistryMirror {
  /** Construct path of the mirror, for error messages. */
  readonly node: { readonly path: string };
  /** URL clients pull from, e.g. `http://127.0.0.1:5000`. */
  readonly endpoint: string;
  /** The upstream registry the mirror proxies (its `proxy.remoteurl`). */
  readonly remoteUrl: string;
  /**
   * Whether clients must log in to pull (htpasswd). Docker daemons have no login of their own for a
   * registry mirror, so they cannot use such a mirror.
   * @default false
   */
  readonly requiresLogin?: boolean;
}

/** Docker Hub's registry API, the upstream mirrors proxy by default (docs/practice.md#registry-mirror). */
export const DOCKER_HUB_REGISTRY = 'https://registry-1.docker.io';

// Host names that serve Docker Hub's registry API (docker/distribution reference and the daemon's default index).
const DOCKER_HUB_HOSTS = new Set(['registry-1.docker.io', 'index.docker.io', 'docker.io', 'registry.hub.docker.com']);

/** Whether an upstream URL is Docker Hub. */
export function isDockerHub(url: string): boolean {
  try {
    return DOCKER_HUB_HOSTS.has(new URL(url).hostname.toLowerCase());
  } catch {
    return false;
  }
}
