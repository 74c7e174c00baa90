import { ErrorScope, ShipshapeError } from '../core/errors';

/** Files (mounted secrets) holding a proxy's login to its upstream. */
export interface ProxyLoginFiles {
  /** Absolute path of the file with the user name. */
  readonly username: string;
  /** Absolute path of the file with the password or access token. */
  readonly password: string;
}

/** Where the registry image reads its configuration (a Swarm config, a ConfigMap or an upload mounts it there). */
export const MOUNTED_REGISTRY_CONFIG = '/etc/docker/registry/config.yml';
/**
 * Directory of the configuration completed with the login: /dev/shm is a memory file system in every Docker
 * container and Kubernetes pod, so the password never reaches a disk or an image layer.
 */
export const RUNTIME_CONFIG_DIR = '/dev/shm/registry';

// Paths are written into the script unquoted: allow only characters the shell takes literally.
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

/**
 * The registry's start command when its proxy logs in upstream. distribution 2.8 reads the login only from
 * `proxy.username`/`proxy.password` in config.yml or from `REGISTRY_PROXY_*` environment variables (shown by
 * `docker inspect` and inherited by every child); this command reads the secret files instead, appends the
 * two keys (as YAML double-quoted strings) to a copy of the mounted config.yml, whose last section is `proxy`,
 * in a mode-0600 file under /dev/shm, and execs `registry serve` on it.
 *
 * The script contains no `$`, so compose interpolation leaves it alone and it is the same string in the stack
 * file, the Kubernetes manifest and the Pulumi inputs.
 */
export function proxyLoginCommand(scope: ErrorScope, login: ProxyLoginFiles, config: string = MOUNTED_REGISTRY_CONFIG): string[] {
  for (const [field, path] of [
    ['username', login.username],
    ['password', login.password],
    ['config', config],
  ] as const) {
    if (!SAFE_PATH.test(path)) {
      throw new ShipshapeError(scope, { problem: `the ${field} file must be an absolute path of letters, digits, ".", "_", "-" and "/"`, value: path, fix: 'rename the secret or its mount point' });
    }
  }
  const runtime = `${RUNTIME_CONFIG_DIR}/config.yml`;
  // Secret files often end with a newline; strip CR/LF, then escape backslashes and quotes for YAML.
  const quoted = (file: string) => `tr -d '\\r\\n' < ${file} | sed -e 's/\\\\/\\\\\\\\/g' -e 's/"/\\\\"/g' | tr -d '\\n'`;
  const present = (file: string) => `test -s ${file} || { echo 'registry: ${file} is missing or empty' >&2; exit 1; }`;
  const script = [
    'set -eu',
    'umask 077',
    present(login.username),
    present(login.password),
    `mkdir -p ${RUNTIME_CONFIG_DIR}`,
    `{ cat ${config}; printf '  username: "'; ${quoted(login.username)}; printf '"\\n  password: "'; ${quoted(login.password)}; printf '"\\n'; } > ${runtime}`,
    `exec registry serve ${runtime}`,
  ].join('\n');
  return ['/bin/sh', '-c', script];
}
