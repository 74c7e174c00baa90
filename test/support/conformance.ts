import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'vitest';
import { SKIP_MARKER } from './skip-marker';

/**
 * The real tools conformance suites drive. `check` returns why the tool is unusable, or undefined
 * when it is there; `install` says how to get it.
 */
export interface ConformanceTool {
  readonly check: () => string | undefined;
  readonly install: string;
}

function onPath(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v "$0"`, bin], { encoding: 'utf8' }).status === 0;
}

function commands(bins: string[]): string | undefined {
  const missing = bins.filter((b) => !onPath(b));
  return missing.length ? `${missing.join(', ')} not on PATH` : undefined;
}

/** kubectl's client minor version, or undefined when it cannot be read. */
function kubectlMinor(): number | undefined {
  const r = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) return undefined;
  try {
    return Number.parseInt(String(JSON.parse(r.stdout).clientVersion.minor), 10);
  } catch {
    return undefined;
  }
}

// kubectl 1.25 is the first with `--validate=strict` (server-side field validation).
const KUBECTL_MIN_MINOR = 25;

// `docker stack config` resolves a stack file without a daemon from Docker CLI 23 on.
const DOCKER_CLI_MIN_MAJOR = 23;

/** Where distributions install the systemd manager binary. */
export const SYSTEMD_BINARIES = ['/usr/lib/systemd/systemd', '/lib/systemd/systemd'];

export const TOOLS = {
  kubectl: {
    check: () => {
      if (!onPath('kubectl')) return 'kubectl not on PATH';
      const minor = kubectlMinor();
      return minor !== undefined && minor >= KUBECTL_MIN_MINOR ? undefined : `kubectl is older than 1.${KUBECTL_MIN_MINOR} (minor ${minor ?? 'unknown'})`;
    },
    install: `install kubectl 1.${KUBECTL_MIN_MINOR} or newer (https://kubernetes.io/docs/tasks/tools/); Debian 12's kubernetes-client (1.20) is too old`,
  },
  'kube-apiserver': {
    check: () => {
      const dir = process.env.KUBEBUILDER_ASSETS;
      if (!dir) return 'KUBEBUILDER_ASSETS is not set';
      const missing = ['kube-apiserver', 'etcd'].filter((b) => !fs.existsSync(path.join(dir, b)));
      return missing.length ? `${missing.join(', ')} not in KUBEBUILDER_ASSETS=${dir}` : undefined;
    },
    install: 'export KUBEBUILDER_ASSETS="$(setup-envtest use -p path 1.29.x)" (controller-runtime envtest), or "$(../shared/envtest/install.sh)" in this repository\'s CI layout',
  },
  fluentd: {
    check: () => {
      const bin = process.env.FLUENTD_BIN;
      if (!bin) return 'FLUENTD_BIN is not set';
      return fs.existsSync(bin) ? undefined : `FLUENTD_BIN=${bin} does not exist`;
    },
    install: 'set FLUENTD_BIN to a fluentd 1.17 with the fluentd-kubernetes-daemonset plugins and fluent-plugin-s3 (CI: ../shared/fluentd/install.sh, FLUENTD_BIN=../shared/fluentd/bin/fluentd)',
  },
  docker: {
    check: () => commands(['dockerd', 'docker', 'busybox', 'timeout', 'ip']) ?? (process.getuid?.() === 0 ? undefined : 'dockerd needs root'),
    install: 'as root: apt-get install docker.io busybox-static iproute2',
  },
  'docker-cli': {
    check: () => {
      if (!onPath('docker')) return 'docker (the CLI) not on PATH';
      const r = spawnSync('docker', ['version', '--format', '{{.Client.Version}}'], { encoding: 'utf8', timeout: 20_000 });
      const major = Number.parseInt(r.stdout, 10);
      return major >= DOCKER_CLI_MIN_MAJOR ? undefined : `the docker CLI is older than ${DOCKER_CLI_MIN_MAJOR} (${r.stdout.trim() || 'unknown'})`;
    },
    install: `install a Docker CLI ${DOCKER_CLI_MIN_MAJOR} or newer (docker-ce-cli); Debian 12's docker.io CLI (20.10) is too old`,
  },
  registry: {
    check: () => commands(['docker-registry', 'skopeo']),
    install: 'apt-get install docker-registry skopeo',
  },
  promtool: {
    check: () => commands(['promtool']),
    install: 'apt-get install prometheus (for promtool)',
  },
  etcd: {
    check: () => commands(['etcd', 'etcdctl', 'openssl']),
    install: 'apt-get install etcd-server etcd-client openssl',
  },
  // Packs the package and installs it into fresh projects (from the npm cache the repository's install filled).
  npm: {
    check: () => commands(['npm', 'npx', 'timeout', 'du']),
    install: 'install Node.js 20 or newer with its npm, and coreutils',
  },
  shell: {
    check: () => commands(['bash', 'curl', 'timeout']),
    install: 'apt-get install bash curl coreutils',
  },
  // Hosts of a test's own: network namespaces joined by veth pairs, a daemon per namespace with its own host name.
  netns: {
    check: () => commands(['ip', 'nsenter', 'unshare', 'timeout']) ?? (process.getuid?.() === 0 ? undefined : 'network namespaces need root'),
    install: 'as root: apt-get install iproute2 util-linux coreutils',
  },
  // Checks firewall files without loading them: `nft -c -f`, `ufw --dry-run`, and shellcheck for scripts.
  firewall: {
    check: () => commands(['nft', 'ufw', 'shellcheck', 'timeout']) ?? (process.getuid?.() === 0 ? undefined : 'nft -c and ufw --dry-run need root'),
    install: 'as root: apt-get install nftables ufw shellcheck',
  },
  // systemd-analyze verifies units; `systemd --test` (same package) dumps how systemd parsed them, without PID 1.
  'systemd-analyze': {
    check: () => commands(['systemd-analyze', 'setpriv', 'timeout']) ?? (SYSTEMD_BINARIES.some((b) => fs.existsSync(b)) ? undefined : `none of ${SYSTEMD_BINARIES.join(', ')} exists`),
    install: 'apt-get install systemd util-linux coreutils',
  },
} satisfies Record<string, ConformanceTool>;

export type ToolName = keyof typeof TOOLS;

/** Set by CI: a missing tool fails the run instead of skipping the suite. */
export const REQUIRE_CONFORMANCE = process.env.SHIPSHAPE_REQUIRE_CONFORMANCE === '1';

const checked = new Map<ToolName, string | undefined>();
function why(tool: ToolName): string | undefined {
  if (!checked.has(tool)) checked.set(tool, TOOLS[tool].check());
  return checked.get(tool);
}

/** Why the tools are unusable (one line per tool, with the install hint), or undefined when all are there. */
export function missingTools(tools: readonly ToolName[]): string | undefined {
  const problems = tools.flatMap((t) => {
    const reason = why(t);
    return reason ? [`${reason} (${TOOLS[t].install})`] : [];
  });
  return problems.length ? problems.join('; ') : undefined;
}

/**
 * A suite that drives real tools. It runs when every tool is there. When one is missing it is
 * skipped and named at the end of the run, unless SHIPSHAPE_REQUIRE_CONFORMANCE=1, where it fails.
 */
export function conformanceSuite(name: string, tools: readonly ToolName[], body: () => void): void {
  const missing = missingTools(tools);
  if (!missing) {
    describe(name, body);
  } else if (REQUIRE_CONFORMANCE) {
    describe(name, () => {
      it('has its real tools (SHIPSHAPE_REQUIRE_CONFORMANCE=1)', () => {
        throw new Error(`${name}: ${missing}`);
      });
    });
  } else {
    describe.skip(`${name}${SKIP_MARKER}${missing}]`, body);
  }
}
