import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, AntiAffinityDeploymentProps, CanaryRelease, VolumeAccessMode, WorkloadIngress } from '../../lib';
import { shipshapeError } from '../support/errors';
import { findObject, newStack, synthStack } from '../support/synth';

const base: AntiAffinityDeploymentProps = { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }] };
// One pod replaced by stopping it first: what a ReadWriteOnce claim allows the stable release.
const single: Partial<AntiAffinityDeploymentProps> = { replicas: 1, strategy: { type: 'Recreate' } };
const MODES: readonly VolumeAccessMode[] = ['ReadWriteOnce', 'ReadWriteOncePod', 'ReadOnlyMany', 'ReadWriteMany'];
const MULTI_NODE: readonly VolumeAccessMode[] = ['ReadOnlyMany', 'ReadWriteMany'];

const claim = (accessMode?: VolumeAccessMode) => ({ mountPath: '/shared', persistentVolumeClaim: 'web-shared', ...(accessMode === undefined ? {} : { accessMode }) });

function release(stableMode: VolumeAccessMode | undefined, canaryMode: VolumeAccessMode | undefined) {
  return synthStack((stack) => {
    const workload = new AntiAffinityDeployment(stack, 'web', { ...base, ...single, volumes: [claim(stableMode)] });
    const ingress = new WorkloadIngress(stack, 'web-ingress', { workload, host: 'api.example.com', paths: ['/'] });
    new CanaryRelease(stack, 'canary', { stable: ingress, weight: 10, canary: { image: 'ghcr.io/acme/web:1.1.0', ports: [{ port: 8080 }], ...single, volumes: [claim(canaryMode)] } });
  });
}

describe('CanaryRelease and a claim the stable release mounts', () => {
  it('refuses a canary declaring ReadWriteMany for a claim the stable release declares ReadWriteOnce', () => {
    const e = shipshapeError(() => release('ReadWriteOnce', 'ReadWriteMany'));
    expect(e.message).toContain('test/canary: canary.volumes[0] declares claim "web-shared" as ReadWriteMany, but the stable release declares it as ReadWriteOnce; a claim has one access mode');
    expect(e.message).toContain('Fix: declare the claim');
  });

  it('counts a mode the stable release left out as the assumed ReadWriteOnce', () => {
    const e = shipshapeError(() => release(undefined, 'ReadWriteMany'));
    expect(e.message).toContain('but the stable release declares it as ReadWriteOnce (assumed, not declared)');
    const canaryOmits = shipshapeError(() => release('ReadWriteMany', undefined));
    expect(canaryOmits.message).toContain('declares claim "web-shared" as ReadWriteOnce (assumed, not declared), but the stable release declares it as ReadWriteMany');
  });

  it('accepts a claim both declare with the same multi-node mode, and mounts it in the canary', () => {
    for (const mode of MULTI_NODE) {
      const result = release(mode, mode);
      expect(result.problems, mode).toEqual([]);
      const volumes = findObject(result, 'Deployment', 'web-canary').spec.template.spec.volumes;
      expect(
        volumes.some((v: any) => v.persistentVolumeClaim?.claimName === 'web-shared'),
        mode,
      ).toBe(true);
    }
  });

  it('accepts exactly the pairs that agree on a multi-node mode, for any two declared or omitted modes', () => {
    const mode = fc.option(fc.constantFrom(...MODES), { nil: undefined });
    fc.assert(
      fc.property(mode, mode, (stable, canary) => {
        let refused: string | undefined;
        try {
          release(stable, canary);
        } catch (e) {
          refused = (e as Error).message;
        }
        const effective = [stable ?? 'ReadWriteOnce', canary ?? 'ReadWriteOnce'];
        const accepted = effective[0] === effective[1] && MULTI_NODE.includes(effective[1]);
        // The stable release itself takes every mode here (one replica, replaced by Recreate).
        expect(refused === undefined, `${stable} / ${canary}: ${refused}`).toBe(accepted);
        if (!accepted) expect(refused).toContain('canary.volumes[0]');
      }),
      { numRuns: 40 },
    );
  });
});

describe('a workload mounting one claim twice', () => {
  it('refuses two different access modes for it', () => {
    const e = shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...base, ...single, volumes: [claim('ReadWriteMany'), { ...claim('ReadOnlyMany'), mountPath: '/shared-copy' }] }));
    expect(e.message).toContain('volumes[1] declares claim "web-shared" as ReadOnlyMany, but an earlier volume declares it as ReadWriteMany; a claim has one access mode');
    expect(() => new AntiAffinityDeployment(newStack(), 'web', { ...base, ...single, volumes: [claim('ReadWriteMany'), { ...claim('ReadWriteMany'), mountPath: '/shared-copy' }] })).not.toThrow();
  });
});
