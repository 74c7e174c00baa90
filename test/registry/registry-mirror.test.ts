import { Size } from 'cdk8s';
import * as fc from 'fast-check';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ShipshapeError, Stack, synthesizeStack } from '../../lib';
import { DockerDaemonConfig } from '../../lib/docker';
import { DockerHostRegistryMirror, DockerHostRegistryMirrorProps, RegistryConfig, RegistryMirror, SAFE_TO_EVICT_LOCAL_VOLUMES, distributionVersion, proxyLoginCommand } from '../../lib/registry';
import { SwarmProject } from '../../lib/swarm';
import { validateManifest } from '../support/schema';
import { findObject, newStack, synthStack } from '../support/synth';
import { fileOf, synthHost } from '../support/hosts';

describe('RegistryConfig (distribution config.yml)', () => {
  it('renders a Docker Hub pull-through cache with delete, health checks and metrics, and no ttl distribution 2 would ignore', () => {
    const text = new RegistryConfig('mirror', { proxy: { remoteUrl: 'https://registry-1.docker.io/' } }).render();
    const doc = parse(text);
    expect(doc).toEqual({
      version: 0.1,
      log: { level: 'info', fields: { service: 'registry' } },
      storage: { filesystem: { rootdirectory: '/var/lib/registry' }, delete: { enabled: true }, cache: { blobdescriptor: 'inmemory' } },
      http: { addr: ':5000', headers: { 'X-Content-Type-Options': ['nosniff'] }, debug: { addr: ':5001', prometheus: { enabled: true, path: '/metrics' } } },
      health: { storagedriver: { enabled: true, interval: '10s', threshold: 3 } },
      proxy: { remoteurl: 'https://registry-1.docker.io' },
    });
    // proxy is the last section, a block mapping indented by two spaces: the start command appends the login to it.
    expect(Object.keys(doc).pop()).toBe('proxy');
    expect(text.endsWith('proxy:\n  remoteurl: https://registry-1.docker.io\n')).toBe(true);
  });

  it('renders s3 storage, TLS and htpasswd, keeps credentials out of the file and out of the environment', () => {
    const config = new RegistryConfig('mirror', {
      version: 3,
      storage: { type: 's3', region: 'eu-west-1', bucket: 'mirror-cache', credentialsFromSecret: true },
      proxy: { remoteUrl: 'https://registry-1.docker.io', authenticated: true, ttl: '72h' },
      tls: { certificate: '/certs/tls.crt', key: '/certs/tls.key' },
      htpasswd: { path: '/auth/htpasswd' },
    });
    const doc = parse(config.render());
    expect(doc.storage.s3).toEqual({ region: 'eu-west-1', bucket: 'mirror-cache' });
    expect(doc.http.tls).toEqual({ certificate: '/certs/tls.crt', key: '/certs/tls.key' });
    expect(doc.auth).toEqual({ htpasswd: { realm: 'registry', path: '/auth/htpasswd' } });
    expect(doc.proxy).toEqual({ remoteurl: 'https://registry-1.docker.io', ttl: '72h' });
    expect(config.render()).not.toMatch(/username|password|accesskey|secretkey/);
    expect(config.proxyLogin).toBe(true);
    expect(config.secretEnv.map((e) => e.name)).toEqual(['REGISTRY_STORAGE_S3_ACCESSKEY', 'REGISTRY_STORAGE_S3_SECRETKEY']);
    expect(config.sharedStorage).toBe(true);
  });

  it.each<[string, ConstructorParameters<typeof RegistryConfig>[1], RegExp]>([
    ['a proxy without delete', { proxy: { remoteUrl: 'https://registry-1.docker.io' }, deleteEnabled: false }, /a pull-through cache needs storage.delete enabled: the proxy expires cached blobs/],
    [
      'an upstream with credentials in the URL',
      { proxy: { remoteUrl: 'https://user:pw@registry-1.docker.io' } },
      /proxy.remoteUrl must be an http:\/\/ or https:\/\/ URL naming only a host and port \(no path, query or credentials\)/,
    ],
    [
      'a ttl for distribution 2, which ignores it',
      { proxy: { remoteUrl: 'https://registry-1.docker.io', ttl: '72h' } },
      /stack\/mirror: distribution 2.x ignores proxy.ttl .* \(got \{"ttl":"72h","version":2\}\). Fix: remove ttl \(168h applies\), or run a distribution 3 image/,
    ],
    ['a zero ttl', { version: 3, proxy: { remoteUrl: 'https://registry-1.docker.io', ttl: '0h' } }, /proxy.ttl must be a non-zero Go duration/],
    ['an unknown version', { version: 4 as 3 }, /version must be 2 or 3/],
    ['a bad listen address', { httpAddress: '5000' }, /httpAddress must be "host:port" or ":port"/],
    ['the debug server on the registry port', { debugAddress: ':5000' }, /debugAddress must be "host:port" on a port other than the registry port/],
    ['a relative certificate', { tls: { certificate: 'tls.crt', key: '/k' } }, /tls.certificate and tls.key must be absolute paths/],
    ['s3 without a bucket', { storage: { type: 's3', region: 'eu-west-1', bucket: '' } }, /s3 storage needs a region and a bucket/],
  ])('refuses %s', (_, props, message) => {
    expect(() => new RegistryConfig('stack/mirror', props)).toThrow(message);
  });

  it('property: any upstream URL and ttl renders a proxy config or throws a ShipshapeError; distribution 2 never gets a ttl', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.webUrl(), fc.string()),
        fc.option(fc.oneof(fc.stringMatching(/^[0-9]{1,3}[hms]$/), fc.string({ maxLength: 5 }))),
        fc.constantFrom(2 as const, 3 as const),
        (remoteUrl, ttl, version) => {
          try {
            const doc = parse(new RegistryConfig('stack/mirror', { version, proxy: { remoteUrl, ttl: ttl ?? undefined } }).render());
            expect(new URL(doc.proxy.remoteurl).pathname).toBe('/');
            expect(doc.storage.delete.enabled).toBe(true);
            expect('ttl' in doc.proxy).toBe(version === 3 && ttl !== null);
          } catch (e) {
            expect(e).toBeInstanceOf(ShipshapeError);
            expect((e as ShipshapeError).path).toBe('stack/mirror');
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it.each([
    ['registry:2.8.3', 2],
    ['registry:3.0.0', 3],
    ['docker.io/library/registry:3.0.0', 3],
    ['localhost:5000/mirror/registry:3.1.0@sha256:abc', 3],
    ['localhost:5000/registry:2.8.3', 2],
    ['registry@sha256:abc', 2],
    ['ghcr.io/distribution/distribution:v3.0.0', 3],
    ['registry:2', 2],
  ] as const)('reads distribution %s as version %d', (image, version) => {
    expect(distributionVersion(image)).toBe(version);
  });

  it('builds a start command without "$" (so compose interpolation leaves it alone) and refuses paths the shell would reinterpret', () => {
    const [sh, flag, script] = proxyLoginCommand('stack/mirror', { username: '/run/secrets/hub-user', password: '/run/secrets/hub-token' });
    expect([sh, flag]).toEqual(['/bin/sh', '-c']);
    expect(script).not.toContain('$');
    expect(script).toContain('cat /etc/docker/registry/config.yml;');
    expect(script.split('\n').pop()).toBe('exec registry serve /dev/shm/registry/config.yml');
    expect(() => proxyLoginCommand('stack/mirror', { username: '/run/secrets/a b', password: '/p' })).toThrow(/stack\/mirror: the username file must be an absolute path/);
    expect(() => proxyLoginCommand('stack/mirror', { username: '/u', password: 'run/secrets/p' })).toThrow(/the password file must be an absolute path/);
  });
});

describe('RegistryMirror on Kubernetes', () => {
  it('refuses upstream credentials without a login of its own: the Service would serve the account’s private images to every pod', () => {
    expect(() => new RegistryMirror(newStack(), 'mirror', { credentialsSecret: 'dockerhub' })).toThrow(
      /test\/mirror: a mirror with upstream credentials serves the account's private repositories to anyone who reaches its Service.* \(got \{"credentialsSecret":"dockerhub"\}\). Fix: set htpasswdSecret/,
    );
  });

  it('creates a Deployment, PVC, Service and ConfigMap that pass schema and policy, with the upstream login as files and an htpasswd login for clients', () => {
    let mirror: RegistryMirror | undefined;
    const result = synthStack((stack) => {
      mirror = new RegistryMirror(stack, 'mirror', { credentialsSecret: 'dockerhub', htpasswdSecret: 'mirror-users' });
    });
    expect(result.problems).toEqual([]);
    for (const o of result.objects) validateManifest(o.manifest);
    expect(mirror!.endpoint).toBe('http://registry-mirror.test.svc:5000');
    expect(mirror!.requiresLogin).toBe(true);
    const deployment = findObject(result, 'Deployment', 'registry-mirror');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    const pod = deployment.spec.template;
    expect(pod.metadata.annotations?.[SAFE_TO_EVICT_LOCAL_VOLUMES]).toBeUndefined();
    expect(pod.spec.volumes.find((v: any) => v.name === 'cache').persistentVolumeClaim.claimName).toBe('registry-mirror');
    const container = pod.spec.containers[0];
    // No credential in the environment: the Secret is mounted and read by the start command.
    expect(container.env ?? []).toEqual([]);
    expect(pod.spec.volumes.find((v: any) => v.name === 'upstream-login').secret).toMatchObject({
      secretName: 'dockerhub',
      items: [
        { key: 'password', path: 'password' },
        { key: 'username', path: 'username' },
      ],
    });
    expect(container.volumeMounts).toContainEqual({ name: 'upstream-login', mountPath: '/run/secrets/upstream', readOnly: true });
    expect(container.command).toEqual(proxyLoginCommand('x', { username: '/run/secrets/upstream/username', password: '/run/secrets/upstream/password' }));
    expect(findObject(result, 'PersistentVolumeClaim', 'registry-mirror').spec.resources.requests.storage).toBe('20Gi');
    expect(findObject(result, 'Service', 'registry-mirror').spec.ports[0].port).toBe(5000);
    const config = parse(findObject(result, 'ConfigMap', 'registry-mirror').data['config.yml']);
    expect(config.proxy).toEqual({ remoteurl: 'https://registry-1.docker.io' });
    expect(config.auth).toEqual({ htpasswd: { realm: 'registry-mirror', path: '/auth/htpasswd' } });
    expect(result.policy.warnings.map((w) => w.ruleId)).toEqual(['single-replica']);
  });

  it('writes a ttl only for a distribution 3 image', () => {
    expect(() => new RegistryMirror(newStack(), 'mirror', { ttl: '72h' })).toThrow(/test\/mirror: distribution 2.x ignores proxy.ttl/);
    const result = synthStack((stack) => new RegistryMirror(stack, 'mirror', { image: 'registry:3.0.0', ttl: '72h' }));
    expect(result.problems).toEqual([]);
    expect(parse(findObject(result, 'ConfigMap', 'registry-mirror').data['config.yml']).proxy.ttl).toBe('72h');
  });

  it('marks an ephemeral cache as safe to evict for the cluster-autoscaler', () => {
    const result = synthStack((stack) => new RegistryMirror(stack, 'mirror', { storage: { type: 'ephemeral', sizeLimit: Size.gibibytes(10) } }));
    expect(result.problems).toEqual([]);
    const pod = findObject(result, 'Deployment', 'registry-mirror').spec.template;
    expect(pod.metadata.annotations[SAFE_TO_EVICT_LOCAL_VOLUMES]).toBe('cache,writable-0');
    expect(pod.spec.volumes.find((v: any) => v.name === 'cache').emptyDir).toEqual({ sizeLimit: '10240Mi' });
    expect(result.objects.some((o) => o.manifest.kind === 'PersistentVolumeClaim')).toBe(false);
  });

  it('refuses a storageClassName the API server refuses, and passes a valid one or "" through to the claim', () => {
    for (const storageClassName of ['Fast_SSD', 'gp3 ', '-gp3', 'a'.repeat(254)]) {
      expect(() => new RegistryMirror(newStack(), 'mirror', { storage: { type: 'persistent', storageClassName } })).toThrow(
        /^test\/mirror: storage\.storageClassName is not a StorageClass name: it must be a DNS subdomain \(got ".*"\)\. Fix: name an existing StorageClass/,
      );
    }
    for (const storageClassName of ['standard-rwo', 'ebs.csi.gp3', '']) {
      const result = synthStack((stack) => new RegistryMirror(stack, 'mirror', { storage: { type: 'persistent', storageClassName } }));
      expect(findObject(result, 'PersistentVolumeClaim', 'registry-mirror').spec.storageClassName).toBe(storageClassName);
    }
  });

  it('runs several replicas only on shared storage, with a disruption budget', () => {
    expect(() => new RegistryMirror(newStack(), 'mirror', { replicas: 2 })).toThrow(
      /test\/mirror: 2 replicas need shared storage: with persistent storage each replica would hold its own cache and a ReadWriteOnce claim/,
    );
    const s3 = { type: 's3' as const, region: 'eu-west-1', bucket: 'cache' };
    expect(() => new RegistryMirror(newStack(), 'mirror', { replicas: 2, storage: s3 })).toThrow(
      /2 replicas behind one Service need a shared http.secret.*Fix: create a Secret with an "http-secret" key/,
    );
    const result = synthStack((stack) => new RegistryMirror(stack, 'mirror', { replicas: 2, storage: s3, s3CredentialsSecret: 'mirror-s3', httpSecret: 'mirror-http' }));
    expect(result.problems).toEqual([]);
    for (const o of result.objects) validateManifest(o.manifest);
    expect(findObject(result, 'PodDisruptionBudget', 'registry-mirror').spec.maxUnavailable).toBe(1);
    const deployment = findObject(result, 'Deployment', 'registry-mirror');
    expect(deployment.spec.strategy.type).toBe('RollingUpdate');
    expect(deployment.spec.template.spec.containers[0].env.map((e: any) => `${e.name}=${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`)).toEqual([
      'REGISTRY_HTTP_SECRET=mirror-http/http-secret',
      'REGISTRY_STORAGE_S3_ACCESSKEY=mirror-s3/accesskey',
      'REGISTRY_STORAGE_S3_SECRETKEY=mirror-s3/secretkey',
    ]);
  });

  it('serves TLS and htpasswd from Secrets', () => {
    let endpoint = '';
    const result = synthStack((stack) => {
      endpoint = new RegistryMirror(stack, 'mirror', { tlsSecret: 'mirror-tls', htpasswdSecret: 'mirror-users' }).endpoint;
    });
    expect(result.problems).toEqual([]);
    expect(endpoint).toMatch(/^https:/);
    const pod = findObject(result, 'Deployment', 'registry-mirror').spec.template.spec;
    expect(pod.containers[0].livenessProbe.httpGet.scheme).toBe('HTTPS');
    expect(pod.volumes.map((v: any) => v.name)).toEqual(expect.arrayContaining(['tls', 'htpasswd']));
  });
});

const HUB_LOGIN = { usernameSecret: 'hub-user', passwordSecret: 'hub-token' };

describe('DockerHostRegistryMirror', () => {
  it('is host-local by default: a global service on the host network bound to 127.0.0.1, the login read from Swarm secret files', () => {
    let mirror: DockerHostRegistryMirror | undefined;
    const result = synthHost((stack) => {
      const project = new SwarmProject(stack, 'swarm', { name: 'edge' });
      mirror = new DockerHostRegistryMirror(project, 'mirror', { credentials: HUB_LOGIN });
    });
    expect(result.problems).toEqual([]);
    expect(mirror!.endpoint).toBe('http://127.0.0.1:5000');
    expect(mirror!.requiresLogin).toBe(false);
    const config = parse(fileOf(result, 'hosts/registry/config.yml'));
    expect(config.http.addr).toBe('127.0.0.1:5000');
    expect(config.http.debug.addr).toBe('127.0.0.1:5001');
    expect(config.proxy).toEqual({ remoteurl: 'https://registry-1.docker.io' });
    expect(config.auth).toBeUndefined();
    const doc = parse(fileOf(result, 'swarm/docker-stack.yml'));
    const svc = doc.services['registry-mirror'];
    expect(svc.image).toBe('registry:2.8.3');
    expect(svc.ports).toBeUndefined();
    expect(svc.networks).toEqual(['host']);
    expect(doc.networks.host).toEqual({ external: true, name: 'host' });
    expect(svc.deploy.mode).toBe('global');
    expect(svc.deploy.placement).toBeUndefined();
    expect(svc.environment).toBeUndefined();
    expect(svc.entrypoint).toEqual(proxyLoginCommand('x', { username: '/run/secrets/hub-user', password: '/run/secrets/hub-token' }));
    expect(svc.configs).toEqual([{ source: 'registry-mirror-config', target: '/etc/docker/registry/config.yml', mode: 0o444 }]);
    // The stack points at the config.yml synth already writes, instead of a copy.
    expect(doc.configs['registry-mirror-config'].file).toBe('../hosts/registry/config.yml');
    expect(svc.secrets.map((s: any) => s.source)).toEqual(['hub-user', 'hub-token']);
    expect(doc.secrets).toEqual({ 'hub-token': { external: true }, 'hub-user': { external: true } });
    expect(svc.deploy.update_config.order).toBe('stop-first');
    expect(svc.healthcheck.test).toEqual(['CMD', 'wget', '-q', '--spider', 'http://127.0.0.1:5000/']);
    expect(result.files.map((f) => f.path)).not.toContain('swarm/configs/registry-mirror-config');
  });

  it('listens on the chosen port, with the debug server beside it or on its own port', () => {
    const debugOf = (props: DockerHostRegistryMirrorProps) => {
      const config = parse(
        fileOf(
          synthHost((stack) => new DockerHostRegistryMirror(stack, 'mirror', { swarm: false, ...props })),
          'hosts/registry/config.yml',
        ),
      );
      return [config.http.addr, config.http.debug?.addr];
    };
    expect(debugOf({ port: 5001 })).toEqual(['127.0.0.1:5001', '127.0.0.1:5002']);
    expect(debugOf({ port: 5050, debugPort: 9101 })).toEqual(['127.0.0.1:5050', '127.0.0.1:9101']);
    expect(debugOf({ debugPort: false })).toEqual(['127.0.0.1:5000', undefined]);
    expect(debugOf({ access: 'published', debugPort: 9101 })).toEqual([':5000', ':9101']);
    expect(() => debugOf({ debugPort: 5000 })).toThrow(/debugAddress must be "host:port" on a port other than the registry port/);
  });

  it('refuses a published mirror with upstream credentials and no login of its own', () => {
    const stack = synthHost(() => undefined).stack;
    expect(() => new DockerHostRegistryMirror(stack, 'mirror', { access: 'published', credentials: HUB_LOGIN, swarm: false })).toThrow(
      /edge\/mirror: a published mirror with upstream credentials is an open proxy for that account: it serves the account's private repositories to anyone who can reach port 5000 of the hosts \(got \{"access":"published","credentials":\{"usernameSecret":"hub-user","passwordSecret":"hub-token"\}\}\). Fix: use access: 'host-local'.*or set htpasswdSecret/,
    );
  });

  it('publishes a mirror with credentials behind htpasswd from a Swarm secret, which daemons cannot use', () => {
    let mirror: DockerHostRegistryMirror | undefined;
    const result = synthHost((stack) => {
      const project = new SwarmProject(stack, 'swarm', { name: 'edge' });
      mirror = new DockerHostRegistryMirror(project, 'mirror', { access: 'published', credentials: HUB_LOGIN, htpasswdSecret: 'mirror-users', advertisedHost: '10.0.0.5' });
    });
    expect(result.problems).toEqual([]);
    expect(mirror!.endpoint).toBe('http://10.0.0.5:5000');
    expect(mirror!.requiresLogin).toBe(true);
    const config = parse(fileOf(result, 'hosts/registry/config.yml'));
    expect(config.http.addr).toBe(':5000');
    expect(config.auth).toEqual({ htpasswd: { realm: 'registry-mirror', path: '/run/secrets/mirror-users' } });
    const svc = parse(fileOf(result, 'swarm/docker-stack.yml')).services['registry-mirror'];
    expect(svc.ports).toEqual([{ target: 5000, published: 5000, protocol: 'tcp', mode: 'ingress' }]);
    expect(svc.deploy).toMatchObject({ mode: 'replicated', replicas: 1, placement: { constraints: ['node.role == manager'] } });
    expect(svc.secrets.map((s: any) => s.source)).toEqual(['hub-user', 'hub-token', 'mirror-users']);
    expect(() => new DockerDaemonConfig(Stack.of(mirror!), 'daemon', { registryMirrors: [mirror!] })).toThrow(
      /edge\/daemon: registry mirror edge\/swarm\/mirror requires a login, but the Docker daemon has none of its own for registry-mirrors.*Fix: give the daemons a mirror only they can reach/,
    );
  });

  it('writes only config.yml on a standalone host', () => {
    const result = synthHost((stack) => new DockerHostRegistryMirror(stack, 'mirror', { swarm: false }));
    expect(result.problems).toEqual([]);
    expect(result.files.map((f) => f.path)).toEqual(['hosts/registry/config.yml']);
  });

  it.each<[string, DockerHostRegistryMirrorProps, RegExp]>([
    ['a bad advertised host', { access: 'published', advertisedHost: 'http://x' }, /advertisedHost must be a host name or IP address/],
    ['a bad port', { port: 70000 }, /port must be an integer from 1 to 65535/],
    [
      'another address for a host-local mirror',
      { advertisedHost: '10.0.0.5' },
      /a host-local mirror listens on 127.0.0.1 of each host and publishes nothing.*Fix: remove advertisedHost and publishMode, or set access: 'published'/,
    ],
    ['a publish mode for a host-local mirror', { publishMode: 'host' }, /a host-local mirror listens on 127.0.0.1/],
    ['an unknown access', { access: 'open' as 'published' }, /access must be "host-local" or "published"/],
    ['a ttl on distribution 2', { ttl: '24h' }, /distribution 2.x ignores proxy.ttl/],
    ['a secret name that is not a file name', { credentials: { usernameSecret: 'hub user', passwordSecret: 'hub-token' } }, /credentials.usernameSecret is not a valid Swarm secret name/],
  ])('is refused with %s', (_, props, message) => {
    const stack = synthHost(() => undefined).stack;
    expect(() => new DockerHostRegistryMirror(stack, 'mirror', { swarm: false, ...props })).toThrow(message);
  });

  it('property: a mirror holding upstream credentials is never reachable without a login from outside its host', () => {
    const props = fc.record(
      {
        access: fc.constantFrom<DockerHostRegistryMirrorProps['access']>('host-local', 'published', undefined),
        credentials: fc.option(fc.constant(HUB_LOGIN), { nil: undefined }),
        htpasswdSecret: fc.option(fc.constantFrom('mirror-users', 'bad name'), { nil: undefined }),
        publishMode: fc.constantFrom<DockerHostRegistryMirrorProps['publishMode']>('ingress', 'host', undefined),
        advertisedHost: fc.constantFrom('127.0.0.1', '10.0.0.5', 'mirror.internal', undefined),
        port: fc.integer({ min: 1, max: 65535 }),
        swarm: fc.boolean(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(props, (p) => {
        const stack = synthHost(() => undefined).stack;
        const scope = p.swarm !== false ? new SwarmProject(stack, 'swarm') : stack;
        let mirror: DockerHostRegistryMirror;
        try {
          mirror = new DockerHostRegistryMirror(scope, 'mirror', p);
        } catch (e) {
          expect(e).toBeInstanceOf(ShipshapeError);
          expect((e as ShipshapeError).path).toBe(p.swarm !== false ? 'edge/swarm/mirror' : 'edge/mirror');
          return;
        }
        const result = synthesizeStack(stack);
        expect(result.problems).toEqual([]);
        const config = parse(fileOf(result, 'hosts/registry/config.yml'));
        const loopbackOnly = config.http.addr.startsWith('127.0.0.1:') && config.http.debug.addr.startsWith('127.0.0.1:');
        if (p.credentials) expect(loopbackOnly || config.auth?.htpasswd !== undefined).toBe(true);
        if (loopbackOnly && mirror.service) {
          const svc = parse(fileOf(result, 'swarm/docker-stack.yml')).services['registry-mirror'];
          expect(svc.ports).toBeUndefined();
          expect(svc.networks).toEqual(['host']);
        }
        // The login is neither in config.yml nor in an environment variable of the service.
        expect(fileOf(result, 'hosts/registry/config.yml')).not.toMatch(/username|password/);
        expect(result.files.map((f) => f.content).join('\n')).not.toMatch(/REGISTRY_PROXY|environment:/);
      }),
      { numRuns: 150 },
    );
  });
});

describe('RegistryMirror cache sizes', () => {
  const mirrorError = (storage: unknown) => {
    try {
      synthStack((stack) => new RegistryMirror(stack, 'mirror', { storage: storage as never }));
    } catch (e) {
      expect(e).toBeInstanceOf(ShipshapeError);
      return e as ShipshapeError;
    }
    throw new Error(`storage ${JSON.stringify(storage)} was accepted`);
  };

  it('refuses a string, NaN, zero or a fraction of the rendered unit in the constructor instead of a TypeError or "NaNGi"', () => {
    expect(mirrorError({ type: 'persistent', size: '50Gi' }).message).toMatch(/test\/mirror: storage\.size must be a finite, positive Size \(a Size object, not the string "50Gi"\)/);
    expect(mirrorError({ type: 'persistent', size: Size.gibibytes(NaN) }).message).toMatch(/storage\.size must be a finite, positive Size.*\(got NaN\)/);
    expect(mirrorError({ type: 'persistent', size: Size.mebibytes(1536) }).message).toMatch(/storage\.size must be a whole number of gibibytes/);
    expect(mirrorError({ type: 'ephemeral', sizeLimit: Size.gibibytes(0) }).message).toMatch(/storage\.sizeLimit/);
    expect(mirrorError({ type: 'ephemeral', sizeLimit: Size.kibibytes(1536) }).message).toMatch(/storage\.sizeLimit must be a whole number of mebibytes/);
    const result = synthStack((stack) => new RegistryMirror(stack, 'mirror', { storage: { type: 'persistent', size: Size.gibibytes(50) } }));
    expect(findObject(result, 'PersistentVolumeClaim', 'registry-mirror').spec.resources.requests.storage).toBe('50Gi');
  });
});
