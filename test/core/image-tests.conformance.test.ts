// Image structure tests against a real Docker engine: the configs synthesized from workload facts are run
// (by the container-structure-test stand-in in test/support/structure-test.ts, which reads the engine's own
// inspection and file archive) against busybox images imported with the metadata under test. An image that
// declares what the workloads state passes; one that runs as root, lacks the exposed port or the executable a
// probe runs, fails on exactly that.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as kplus from 'cdk8s-plus-27';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AntiAffinityDeployment } from '../../lib';
import { ImageStructureTest } from '../../lib/core/image-tests';
import { SwarmProject, SwarmService } from '../../lib/swarm';
import { swarmEnvironment, synthHost } from '../support/hosts';
import { IsolatedDockerd, must, workDir } from '../support/engine';
import { conformanceSuite } from '../support/conformance';
import { StructureTestRun, runStructureTest, structureTestConfigProblems } from '../support/structure-test';
import { synthStack } from '../support/synth';

const IMAGE = 'local/cst-app:1.0.0';
const HTTPD = ['/bin/httpd', '-f', '-p', '8080'];

let engine: IsolatedDockerd | undefined;
let dir: string;

/** The structure test synthesized for IMAGE from a Swarm service that runs it as 65532, on 8080, with httpd and a wget healthcheck. */
function swarmConfig(): ImageStructureTest {
  const result = synthHost((stack) => {
    const swarm = new SwarmProject(stack, 'swarm');
    new SwarmService(swarm, 'app', {
      name: 'app',
      image: IMAGE,
      user: '65532',
      entrypoint: HTTPD,
      ports: [{ target: 8080, published: 18080 }],
      healthcheck: { test: ['CMD', '/bin/wget', '-q', '--spider', 'http://127.0.0.1:8080/'] },
    });
  }, swarmEnvironment());
  expect(result.problems).toEqual([]);
  return result.imageTests.find((t) => t.image === IMAGE)!;
}

/** The structure test synthesized for IMAGE from a Kubernetes Deployment: port 8080, an exec liveness probe, a migration init container as 65532. */
function kubernetesConfig(): ImageStructureTest {
  const result = synthStack((stack) => {
    new AntiAffinityDeployment(stack, 'app', {
      name: 'app',
      image: IMAGE,
      ports: [{ name: 'http', port: 8080 }],
      liveness: kplus.Probe.fromCommand(['/bin/wget', '-q', '--spider', 'http://127.0.0.1:8080/']),
      initContainers: [{ name: 'migrate', image: IMAGE, command: ['/bin/true'], securityContext: { user: 65532, ensureNonRoot: true } }],
    });
  });
  return result.imageTests.find((t) => t.image === IMAGE)!;
}

/** Imports a busybox root filesystem as `tag` with Dockerfile-style `changes`; `edit` adjusts the tree first. */
function importImage(tag: string, changes: string[], edit: (rootfs: string) => void = () => {}): void {
  const rootfs = fs.mkdtempSync(path.join(dir, 'rootfs-'));
  // mkdtemp makes the directory 0700, which as the image's / would lock every non-root user out.
  fs.chmodSync(rootfs, 0o755);
  fs.mkdirSync(path.join(rootfs, 'bin'), { mode: 0o755 });
  const busybox = fs.realpathSync(spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).stdout.trim());
  fs.copyFileSync(busybox, path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of must(10, 'busybox', ['--list'])
    .split('\n')
    .filter((a) => a && a !== 'busybox'))
    fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  fs.mkdirSync(path.join(rootfs, 'tmp'));
  fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  edit(rootfs);
  const args = ['import', ...['ENV PATH=/bin', ...changes].flatMap((c) => ['-c', c]), '-', tag];
  const r = spawnSync('sh', ['-c', `tar -C "$0" -c . | timeout 60 docker "$@"`, rootfs, ...args], { env: engine!.env, encoding: 'utf8' });
  fs.rmSync(rootfs, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`docker import ${tag} failed: ${r.stderr}`);
}

const ENTRYPOINT = `ENTRYPOINT ${JSON.stringify(HTTPD)}`;
const failures = (run: StructureTestRun) => run.results.filter((r) => !r.pass).flatMap((r) => r.errors.map((e) => `${r.name}: ${e}`));

conformanceSuite('image structure tests against a real Docker engine', ['docker'], () => {
  beforeAll(async () => {
    dir = workDir('shs-cst-');
    fs.writeFileSync(path.join(dir, 'daemon.json'), JSON.stringify({ 'storage-driver': 'vfs', iptables: false, bridge: 'none' }));
    engine = new IsolatedDockerd(dir, path.join(dir, 'daemon.json'));
    await engine.start();
    importImage('local/cst-good:1', ['USER 65532', 'EXPOSE 8080/tcp', ENTRYPOINT]);
    importImage('local/cst-root:1', ['EXPOSE 8080/tcp', ENTRYPOINT]);
    importImage('local/cst-noport:1', ['USER 65532', ENTRYPOINT]);
    importImage('local/cst-udp:1', ['USER 65532', 'EXPOSE 8080/udp', ENTRYPOINT]);
    importImage('local/cst-usergroup:1', ['USER 65532:65532', 'EXPOSE 8080/tcp', ENTRYPOINT]);
    importImage('local/cst-nohttpd:1', ['USER 65532', 'EXPOSE 8080/tcp', ENTRYPOINT], (root) => fs.rmSync(path.join(root, 'bin', 'httpd')));
    importImage('local/cst-noexec:1', ['USER 65532', 'EXPOSE 8080/tcp', ENTRYPOINT], (root) => {
      fs.rmSync(path.join(root, 'bin', 'httpd'));
      fs.writeFileSync(path.join(root, 'bin', 'httpd'), '#!/bin/sh\nexec busybox httpd "$@"\n', { mode: 0o644 });
    });
  }, 180_000);

  afterAll(async () => {
    const problems = engine ? await engine.stop() : [];
    if (problems.length > 0) throw new Error(`cleanup failed: ${problems.join('; ')}`);
  }, 120_000);

  describe.sequential('a config synthesized from a Swarm service', () => {
    let config: ImageStructureTest;
    beforeAll(() => {
      config = swarmConfig();
    });

    it("asserts the user, the port and the two executables, and the tool's parser accepts it", () => {
      expect(structureTestConfigProblems(config.path, config.content)).toEqual([]);
      expect(config.config).toEqual({
        schemaVersion: '2.0.0',
        metadataTest: { user: '65532', exposedPorts: ['8080'] },
        fileExistenceTests: [expect.objectContaining({ path: '/bin/httpd', isExecutableBy: 'any' }), expect.objectContaining({ path: '/bin/wget', isExecutableBy: 'any' })],
      });
    });

    it('passes an image that runs as 65532, exposes 8080/tcp and has httpd and wget', () => {
      const run = runStructureTest(engine!.env, 'local/cst-good:1', config.content, config.path);
      expect(failures(run)).toEqual([]);
      expect(run.results.map((r) => r.name)).toEqual([expect.stringMatching(/\/bin\/httpd/), expect.stringMatching(/\/bin\/wget/), 'Metadata Test']);
      expect(run.pass).toBe(true);
      // The asserted user is the one the engine runs the image as.
      expect(engine!.must(['run', '--rm', '--network', 'none', '--entrypoint', '/bin/id', 'local/cst-good:1', '-u']).trim()).toBe('65532');
    });

    it('fails an image that runs as root, on the user alone', () => {
      const run = runStructureTest(engine!.env, 'local/cst-root:1', config.content, config.path);
      expect(run.pass).toBe(false);
      expect(failures(run)).toEqual(['Metadata Test: Image user  does not match config user: 65532']);
      expect(engine!.must(['run', '--rm', '--network', 'none', '--entrypoint', '/bin/id', 'local/cst-root:1', '-u']).trim()).toBe('0');
    });

    it('fails an image that does not expose 8080, on the port alone', () => {
      const run = runStructureTest(engine!.env, 'local/cst-noport:1', config.content, config.path);
      expect(failures(run)).toEqual(['Metadata Test: Port 8080 not found in config']);
    });

    it('compares as the tool does: ports by number (8080/udp passes), users as exact strings (65532:65532 fails)', () => {
      expect(failures(runStructureTest(engine!.env, 'local/cst-udp:1', config.content, config.path))).toEqual([]);
      expect(failures(runStructureTest(engine!.env, 'local/cst-usergroup:1', config.content, config.path))).toEqual(['Metadata Test: Image user 65532:65532 does not match config user: 65532']);
    });

    it("fails an image without the entrypoint's executable, and one where it is not executable", () => {
      const missing = failures(runStructureTest(engine!.env, 'local/cst-nohttpd:1', config.content, config.path));
      expect(missing).toHaveLength(1);
      expect(missing[0]).toMatch(/^File Existence Test: \/bin\/httpd is an executable .*: Error examining file in container: .*(No such|not found|Could not find)/i);
      const notExecutable = failures(runStructureTest(engine!.env, 'local/cst-noexec:1', config.content, config.path));
      expect(notExecutable).toEqual([
        expect.stringMatching(/^File Existence Test: \/bin\/httpd .*: \/bin\/httpd has incorrect executable bit\. Expected to be executable by any, Actual: -rw-r--r--$/),
      ]);
    });
  });

  describe.sequential('a config synthesized from a Kubernetes Deployment', () => {
    it("asserts the init container's user, the container port and the probe's executable; the good image passes, the root one fails", () => {
      const config = kubernetesConfig();
      expect(config.config).toEqual({
        schemaVersion: '2.0.0',
        metadataTest: { user: '65532', exposedPorts: ['8080'] },
        fileExistenceTests: [expect.objectContaining({ path: '/bin/true' }), expect.objectContaining({ path: '/bin/wget' })],
      });
      expect(runStructureTest(engine!.env, 'local/cst-good:1', config.content, config.path).pass).toBe(true);
      expect(failures(runStructureTest(engine!.env, 'local/cst-root:1', config.content, config.path))).toEqual(['Metadata Test: Image user  does not match config user: 65532']);
      expect(failures(runStructureTest(engine!.env, 'local/cst-noport:1', config.content, config.path))).toEqual(['Metadata Test: Port 8080 not found in config']);
    });
  });
});
