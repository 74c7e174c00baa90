import { Size } from 'cdk8s';
import * as fc from 'fast-check';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ShipshapeError, synthesizeStack } from '../../lib';
import { DockerHostRegistryMirror, RegistryConfig, RegistryMirror, SAFE_TO_EVICT_LOCAL_VOLUMES } from '../../lib/registry';
import { SwarmStack } from '../../lib/swarm';
import { validateManifest } from '../support/schema';
import { findObject, newStack, synthStack } from '../support/synth';
import { fileOf, synthHost } from './helpers';

describe('RegistryConfig (distribution config.yml)', () => {
  it('renders a Docker Hub pull-through cache with delete, health checks and metrics', () => {
    const doc = parse(new RegistryConfig('mirror', { proxy: { remoteUrl: 'https://registry-1.docker.io/' } }).render());
    expect(doc).toEqual({
      version: 0.1,
      log: { level: 'info', fields: { service: 'registry' } },
      storage: { filesystem: { rootdirectory: '/var/lib/registry' }, delete: { enabled: true }, cache: { blobdescriptor: 'inmemory' } },
      http: { addr: ':5000', headers: { 'X-Content-Type-Options': ['nosniff'] }, debug: { addr: ':5001', prometheus: { enabled: true, path: '/metrics' } } },
      health: { storagedriver: { enabled: true, interval: '10s', threshold: 3 } },
      proxy: { remoteurl: 'https://registry-1.docker.io', ttl: '168h' },
    });
  });

  it('renders s3 storage, TLS and htpasswd, and keeps credentials out of the file', () => {
    const config = new RegistryConfig('mirror', {
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
    expect(config.secretEnv.map((e) => e.name)).toEqual(['REGISTRY_PROXY_USERNAME', 'REGISTRY_PROXY_PASSWORD', 'REGISTRY_STORAGE_S3_ACCESSKEY', 'REGISTRY_STORAGE_S3_SECRETKEY']);
    expect(config.sharedStorage).toBe(true);
  });

  it.each<[string, ConstructorParameters<typeof RegistryConfig>[1], RegExp]>([
    ['a proxy without delete', { proxy: { remoteUrl: 'https://registry-1.docker.io' }, deleteEnabled: false }, /a pull-through cache needs storage.delete enabled: the proxy expires cached blobs/],
    ['an upstream with credentials in the URL', { proxy: { remoteUrl: 'https://user:pw@registry-1.docker.io' } }, /proxy.remoteUrl must be an http:\/\/ or https:\/\/ URL naming only a host and port \(no path, query or credentials\)/],
    ['a zero ttl', { proxy: { remoteUrl: 'https://registry-1.docker.io', ttl: '0h' } }, /proxy.ttl must be a non-zero Go duration/],
    ['a bad listen address', { httpAddress: '5000' }, /httpAddress must be "host:port" or ":port"/],
    ['the debug server on the registry port', { debugAddress: ':5000' }, /debugAddress must be "host:port" on a port other than the registry port/],
    ['a relative certificate', { tls: { certificate: 'tls.crt', key: '/k' } }, /tls.certificate and tls.key must be absolute paths/],
    ['s3 without a bucket', { storage: { type: 's3', region: 'eu-west-1', bucket: '' } }, /s3 storage needs a region and a bucket/],
  ])('refuses %s', (_, props, message) => {
    expect(() => new RegistryConfig('stack/mirror', props)).toThrow(message);
  });

  it('property: any upstream URL and ttl renders a proxy config or throws a ShipshapeError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.webUrl(), fc.string()), fc.oneof(fc.stringMatching(/^[0-9]{1,3}[hms]$/), fc.string({ maxLength: 5 })), (remoteUrl, ttl) => {
        try {
          const doc = parse(new RegistryConfig('stack/mirror', { proxy: { remoteUrl, ttl } }).render());
          expect(new URL(doc.proxy.remoteurl).pathname).toBe('/');
          expect(doc.storage.delete.enabled).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(ShipshapeError);
          expect((e as ShipshapeError).path).toBe('stack/mirror');
        }
      }),
      { numRuns: 200, seed: 11 },
    );
  });
});

describe('RegistryMirror on Kubernetes', () => {
  it('creates a Deployment, PVC, Service and ConfigMap that pass schema and policy, and exposes its endpoint', () => {
    let endpoint = '';
    const result = synthStack((stack) => {
      endpoint = new RegistryMirror(stack, 'mirror', { credentialsSecret: 'dockerhub' }).endpoint;
    });
    expect(result.problems).toEqual([]);
    for (const o of result.objects) validateManifest(o.manifest);
    expect(endpoint).toBe('http://registry-mirror.test.svc:5000');
    const deployment = findObject(result, 'Deployment', 'registry-mirror');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    const pod = deployment.spec.template;
    expect(pod.metadata.annotations?.[SAFE_TO_EVICT_LOCAL_VOLUMES]).toBeUndefined();
    expect(pod.spec.volumes.find((v: any) => v.name === 'cache').persistentVolumeClaim.claimName).toBe('registry-mirror');
    expect(pod.spec.containers[0].env).toEqual([
      { name: 'REGISTRY_PROXY_USERNAME', valueFrom: { secretKeyRef: { name: 'dockerhub', key: 'username' } } },
      { name: 'REGISTRY_PROXY_PASSWORD', valueFrom: { secretKeyRef: { name: 'dockerhub', key: 'password' } } },
    ]);
    expect(findObject(result, 'PersistentVolumeClaim', 'registry-mirror').spec.resources.requests.storage).toBe('20Gi');
    expect(findObject(result, 'Service', 'registry-mirror').spec.ports[0].port).toBe(5000);
    const config = parse(findObject(result, 'ConfigMap', 'registry-mirror').data['config.yml']);
    expect(config.proxy.remoteurl).toBe('https://registry-1.docker.io');
    expect(result.policy.warnings.map((w) => w.ruleId)).toEqual(['single-replica']);
  });

  it('marks an ephemeral cache as safe to evict for the cluster-autoscaler', () => {
    const result = synthStack((stack) => new RegistryMirror(stack, 'mirror', { storage: { type: 'ephemeral', sizeLimit: Size.gibibytes(10) } }));
    expect(result.problems).toEqual([]);
    const pod = findObject(result, 'Deployment', 'registry-mirror').spec.template;
    expect(pod.metadata.annotations[SAFE_TO_EVICT_LOCAL_VOLUMES]).toBe('cache,writable-0');
    expect(pod.spec.volumes.find((v: any) => v.name === 'cache').emptyDir).toEqual({ sizeLimit: '10240Mi' });
    expect(result.objects.some((o) => o.manifest.kind === 'PersistentVolumeClaim')).toBe(false);
  });

  it('runs several replicas only on shared storage, with a disruption budget', () => {
    expect(() => new RegistryMirror(newStack(), 'mirror', { replicas: 2 })).toThrow(/test\/mirror: 2 replicas need shared storage: with persistent storage each replica would hold its own cache and a ReadWriteOnce claim/);
    const s3 = { type: 's3' as const, region: 'eu-west-1', bucket: 'cache' };
    expect(() => new RegistryMirror(newStack(), 'mirror', { replicas: 2, storage: s3 })).toThrow(/2 replicas behind one Service need a shared http.secret.*Fix: create a Secret with an "http-secret" key/);
    const result = synthStack((stack) => new RegistryMirror(stack, 'mirror', { replicas: 2, storage: s3, s3CredentialsSecret: 'mirror-s3', httpSecret: 'mirror-http' }));
    expect(result.problems).toEqual([]);
    for (const o of result.objects) validateManifest(o.manifest);
    expect(findObject(result, 'PodDisruptionBudget', 'registry-mirror').spec.maxUnavailable).toBe(1);
    const deployment = findObject(result, 'Deployment', 'registry-mirror');
    expect(deployment.spec.strategy.type).toBe('RollingUpdate');
    expect(deployment.spec.template.spec.containers[0].env.map((e: any) => `${e.name}=${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`)).toEqual([
      'REGISTRY_HTTP_SECRET=mirror-http/http-secret', 'REGISTRY_STORAGE_S3_ACCESSKEY=mirror-s3/accesskey', 'REGISTRY_STORAGE_S3_SECRETKEY=mirror-s3/secretkey',
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

describe('DockerHostRegistryMirror', () => {
  it('writes hosts/registry/config.yml and a Swarm service that reads the login from Swarm secrets', () => {
    const result = synthHost((stack) => {
      new SwarmStack(stack, 'swarm', { name: 'edge' });
      new DockerHostRegistryMirror(stack, 'mirror', { credentials: { usernameSecret: 'hub-user', passwordSecret: 'hub-token' } });
    });
    expect(result.problems).toEqual([]);
    const config = fileOf(result, 'hosts/registry/config.yml');
    expect(parse(config).proxy.remoteurl).toBe('https://registry-1.docker.io');
    const doc = parse(fileOf(result, 'swarm/docker-stack.yml'));
    const svc = doc.services['registry-mirror'];
    expect(svc.image).toBe('registry:2.8.3');
    expect(svc.entrypoint[2]).toBe('REGISTRY_PROXY_USERNAME="$$(cat /run/secrets/hub-user)" REGISTRY_PROXY_PASSWORD="$$(cat /run/secrets/hub-token)" exec registry serve /etc/docker/registry/config.yml');
    expect(svc.configs).toEqual([{ source: 'registry-mirror-config', target: '/etc/docker/registry/config.yml', mode: 0o444 }]);
    // The stack points at the config.yml synth already writes, instead of a copy.
    expect(doc.configs['registry-mirror-config'].file).toBe('../hosts/registry/config.yml');
    expect(doc.secrets).toEqual({ 'hub-token': { external: true }, 'hub-user': { external: true } });
    expect(svc.deploy.update_config.order).toBe('stop-first');
    expect(result.files.map((f) => f.path)).not.toContain('swarm/configs/registry-mirror-config');
  });

  it('writes only config.yml on a standalone host', () => {
    const result = synthHost((stack) => new DockerHostRegistryMirror(stack, 'mirror', { swarm: false }));
    expect(result.problems).toEqual([]);
    expect(result.files.map((f) => f.path)).toEqual(['hosts/registry/config.yml']);
  });

  it('is refused with a bad advertised host or port', () => {
    const stack = synthHost(() => undefined).stack;
    expect(() => new DockerHostRegistryMirror(stack, 'a', { advertisedHost: 'http://x', swarm: false })).toThrow(/advertisedHost must be a host name or IP address/);
    expect(() => new DockerHostRegistryMirror(stack, 'b', { port: 70000, swarm: false })).toThrow(/port must be an integer from 1 to 65535/);
    expect(synthesizeStack(stack).problems).toEqual([]);
  });
});
