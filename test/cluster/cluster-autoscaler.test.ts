import { Duration } from 'cdk8s';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Environment, ShipshapeError, Stack, synthesizeStack } from '../../lib';
import {
  AutoscalerCloud,
  CLUSTER_API_MANAGEMENT_RULES,
  CLUSTER_AUTOSCALER_RELEASES,
  ClusterAutoscaler,
  ClusterAutoscalerProps,
  MetricsServer,
  NODE_VERBS_BY_PROVIDER,
  clusterApiNodeGroupAnnotations,
  clusterAutoscalerClusterRoleRules,
} from '../../lib/cluster';
import { findObject, newStack, objectsOfKind, synthStack, testEnvironment } from '../support/synth';
import { expectValidAndClean, shipshapeError } from '../support/cluster';

const AWS: AutoscalerCloud = { provider: 'aws', region: 'eu-west-1' };

function autoscale(props: ClusterAutoscalerProps, environment?: Environment) {
  return synthStack((stack) => new ClusterAutoscaler(stack, 'ca', props), environment);
}

function command(result: ReturnType<typeof autoscale>): string[] {
  return findObject(result, 'Deployment', 'cluster-autoscaler').spec.template.spec.containers[0].command;
}

// charts/cluster-autoscaler/templates/clusterrole.yaml of kubernetes/autoscaler, transcribed from the chart, for
// every provider but kwok and huaweicloud: since kubernetes/autoscaler#8647 (chart 9.52.1) node create is granted
// only to kwok and node delete only to kwok and huaweicloud.
const UPSTREAM_CLUSTER_ROLE = `
- apiGroups: [""]
  resources: [events, endpoints]
  verbs: [create, patch]
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
- apiGroups: [""]
  resources: [pods/status]
  verbs: [update]
- apiGroups: [""]
  resources: [endpoints]
  resourceNames: [cluster-autoscaler]
  verbs: [get, update]
- apiGroups: [""]
  resources: [nodes]
  verbs: [watch, list, get, update]
- apiGroups: [""]
  resources: [namespaces, pods, services, replicationcontrollers, persistentvolumeclaims, persistentvolumes]
  verbs: [watch, list, get]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [watch, list, get]
- apiGroups: [batch, extensions]
  resources: [jobs]
  verbs: [get, list, patch, watch]
- apiGroups: [extensions]
  resources: [replicasets, daemonsets]
  verbs: [watch, list, get]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [watch, list]
- apiGroups: [apps]
  resources: [daemonsets, replicasets, statefulsets]
  verbs: [watch, list, get]
- apiGroups: [storage.k8s.io]
  resources: [storageclasses, csinodes, csidrivers, csistoragecapacities, volumeattachments]
  verbs: [watch, list, get]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [list, watch, get]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
- apiGroups: [coordination.k8s.io]
  resourceNames: [cluster-autoscaler]
  resources: [leases]
  verbs: [get, update]
`;

describe('ClusterAutoscaler', () => {
  it('renders the flags an operator writes by hand for AWS with explicit groups', () => {
    const result = autoscale({ cloud: { ...AWS, roleArn: 'arn:aws:iam::123456789012:role/ca' } });
    expectValidAndClean(result);
    expect(command(result)).toEqual([
      './cluster-autoscaler',
      '--cloud-provider=aws',
      '--namespace=kube-system',
      '--nodes=3:6:webapi',
      '--nodes=0:2:batch',
      '--expander=least-waste',
      '--balance-similar-node-groups=true',
      '--scale-down-enabled=true',
      '--scale-down-delay-after-add=10m',
      '--scale-down-unneeded-time=10m',
      '--scale-down-utilization-threshold=0.5',
      '--skip-nodes-with-local-storage=false',
      '--skip-nodes-with-system-pods=true',
      '--daemonset-eviction-for-empty-nodes=true',
      '--daemonset-eviction-for-occupied-nodes=true',
      '--max-node-provision-time=15m',
      '--logtostderr=true',
      '--stderrthreshold=info',
      '--v=4',
    ]);
    const container = findObject(result, 'Deployment', 'cluster-autoscaler').spec.template.spec.containers[0];
    expect(container.env).toContainEqual({ name: 'AWS_REGION', value: 'eu-west-1' });
    expect(findObject(result, 'ServiceAccount', 'cluster-autoscaler').metadata.annotations).toEqual({ 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/ca' });
  });

  it('uses ASG tag auto-discovery with the chart default tags and cloud group names from the environment', () => {
    const env = testEnvironment({ nodeGroups: [{ name: 'webapi', minSize: 1, maxSize: 3, cloudGroupName: 'eks-webapi-2024' }] });
    const discovered = command(autoscale({ cloud: { ...AWS, autoDiscovery: { clusterName: 'acme-prod' } } }, env));
    expect(discovered).toContain('--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/acme-prod');
    expect(discovered.some((a) => a.startsWith('--nodes='))).toBe(false);
    expect(command(autoscale({ cloud: AWS }, env))).toContain('--nodes=1:3:eks-webapi-2024');
  });

  it('uses MIG name-prefix discovery with per-group bounds on GCE and the Workload Identity annotation', () => {
    const result = autoscale({ cloud: { provider: 'gce', serviceAccount: 'cluster-autoscaler@acme-prod.iam.gserviceaccount.com' }, expander: 'price' });
    expectValidAndClean(result);
    expect(command(result)).toEqual(
      expect.arrayContaining([
        '--cloud-provider=gce',
        '--node-group-auto-discovery=mig:namePrefix=webapi,min=3,max=6',
        '--node-group-auto-discovery=mig:namePrefix=batch,min=0,max=2',
        '--expander=price',
      ]),
    );
    expect(findObject(result, 'ServiceAccount', 'cluster-autoscaler').metadata.annotations).toEqual({ 'iam.gke.io/gcp-service-account': 'cluster-autoscaler@acme-prod.iam.gserviceaccount.com' });
  });

  it('lists VMSS groups on Azure and takes credentials from Workload Identity or a Secret by name', () => {
    const base = { provider: 'azure' as const, subscriptionId: '0b7e1c5a-1111-4222-8333-944455556666', resourceGroup: 'MC_acme_prod_westeurope' };
    const wi = autoscale({ cloud: { ...base, identity: { workloadIdentityClientId: '7d5c8b9e-1111-4222-8333-944455556666' } } });
    expectValidAndClean(wi);
    expect(command(wi)).toEqual(expect.arrayContaining(['--cloud-provider=azure', '--nodes=3:6:webapi', '--nodes=0:2:batch']));
    const deployment = findObject(wi, 'Deployment', 'cluster-autoscaler');
    expect(deployment.spec.template.metadata.labels['azure.workload.identity/use']).toBe('true');
    expect(deployment.spec.template.spec.containers[0].env).toEqual(
      expect.arrayContaining([
        { name: 'ARM_SUBSCRIPTION_ID', value: base.subscriptionId },
        { name: 'ARM_RESOURCE_GROUP', value: base.resourceGroup },
        { name: 'ARM_VM_TYPE', value: 'vmss' },
        { name: 'ARM_USE_WORKLOAD_IDENTITY_EXTENSION', value: 'true' },
      ]),
    );
    expect(findObject(wi, 'ServiceAccount', 'cluster-autoscaler').metadata.annotations).toEqual({ 'azure.workload.identity/client-id': '7d5c8b9e-1111-4222-8333-944455556666' });

    const secret = autoscale({ cloud: { ...base, identity: { credentialsSecret: 'cluster-autoscaler-azure' }, autoDiscovery: { clusterName: 'acme-prod' } } });
    expectValidAndClean(secret);
    expect(command(secret)).toContain('--node-group-auto-discovery=label:cluster-autoscaler-enabled=true,cluster-autoscaler-name=acme-prod');
    const env = findObject(secret, 'Deployment', 'cluster-autoscaler').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'ARM_CLIENT_SECRET', valueFrom: { secretKeyRef: { name: 'cluster-autoscaler-azure', key: 'ClientSecret' } } });
    expect(JSON.stringify(env)).not.toMatch(/"value":"[^"]*secret/i);
  });

  it("discovers Cluster API machine sets and adds the chart's cluster.x-k8s.io rules", () => {
    const result = autoscale({ cloud: { provider: 'clusterapi', clusterName: 'acme-stage', namespace: 'clusters' } });
    expectValidAndClean(result);
    expect(command(result)).toContain('--node-group-auto-discovery=clusterapi:clusterName=acme-stage,namespace=clusters');
    expect(command(result).some((a) => a.startsWith('--nodes='))).toBe(false);
    const rules = findObject(result, 'ClusterRole', 'cluster-autoscaler').rules;
    // The chart's scale rule plus machinesets/scale: a MachineSet without a MachineDeployment is a node group too,
    // scaled through its scale subresource like the others.
    expect(rules).toContainEqual({ apiGroups: ['cluster.x-k8s.io'], resources: ['machinedeployments/scale', 'machinepools/scale', 'machinesets/scale'], verbs: ['get', 'patch', 'update'] });
    expect(clusterApiNodeGroupAnnotations({ minSize: 3, maxSize: 10 })).toEqual({
      'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': '3',
      'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': '10',
    });
  });

  // One cloud of each provider, with what the chart adds for it.
  const CLOUDS: Record<AutoscalerCloud['provider'], AutoscalerCloud> = {
    aws: AWS,
    gce: { provider: 'gce' },
    azure: { provider: 'azure', subscriptionId: '0b7e1c5a-1111-4222-8333-944455556666', resourceGroup: 'rg', identity: { credentialsSecret: 'azure-creds' } },
    clusterapi: { provider: 'clusterapi', clusterName: 'acme-stage' },
  };

  it.each(Object.keys(CLOUDS) as AutoscalerCloud['provider'][])('narrows the ClusterRole for %s as the current chart does: nodes read and updated, never created or deleted', (provider) => {
    const result = autoscale({ cloud: CLOUDS[provider] });
    expectValidAndClean(result);
    const rules = findObject(result, 'ClusterRole', 'cluster-autoscaler').rules as any[];
    const nodeRules = rules.filter((r) => r.apiGroups.includes('') && r.resources.includes('nodes'));
    expect(nodeRules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['watch', 'list', 'get', 'update'] }]);
    expect(NODE_VERBS_BY_PROVIDER[provider]).toEqual(['watch', 'list', 'get', 'update']);
    // Nothing else grants node writes either (no wildcard, no second rule).
    expect(rules.some((r) => r.resources.includes('nodes') && r.verbs.some((v: string) => ['create', 'delete', 'deletecollection', '*'].includes(v)))).toBe(false);
    const capi = rules.filter((r) => r.apiGroups.includes('cluster.x-k8s.io'));
    expect(capi).toEqual(provider === 'clusterapi' ? [...CLUSTER_API_MANAGEMENT_RULES] : []);
    expect(rules).toEqual([...parse(UPSTREAM_CLUSTER_ROLE), ...capi]);
    expect(clusterAutoscalerClusterRoleRules(CLOUDS[provider])).toEqual(rules);
  });

  it('reads Cluster API objects from a separate management cluster through a Secret-mounted kubeconfig (--cloud-config)', () => {
    const cloud: AutoscalerCloud = { provider: 'clusterapi', clusterName: 'acme-stage', namespace: 'clusters', managementCluster: { kubeconfigSecret: 'capi-management-kubeconfig' } };
    const result = autoscale({ cloud });
    expectValidAndClean(result);
    const pod = findObject(result, 'Deployment', 'cluster-autoscaler').spec.template.spec;
    const [container] = pod.containers;
    // The README's "autoscaler running in workload cluster ... with separate management cluster": in-cluster
    // credentials for the workload cluster (no --kubeconfig), the management kubeconfig as --cloud-config.
    expect(container.command).toContain('--cloud-config=/etc/cluster-api-management/kubeconfig');
    expect(container.command.some((a: string) => a.startsWith('--kubeconfig'))).toBe(false);
    expect(container.command).toContain('--node-group-auto-discovery=clusterapi:clusterName=acme-stage,namespace=clusters');
    expect(container.volumeMounts).toEqual([{ name: 'management-kubeconfig', mountPath: '/etc/cluster-api-management', readOnly: true }]);
    expect(pod.volumes).toEqual([{ name: 'management-kubeconfig', secret: { secretName: 'capi-management-kubeconfig', items: [{ key: 'value', path: 'kubeconfig' }], defaultMode: 0o440 } }]);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true });
    // The workload cluster's ClusterRole no longer grants anything on cluster.x-k8s.io: those rules belong in the management cluster.
    const rules = findObject(result, 'ClusterRole', 'cluster-autoscaler').rules as any[];
    expect(rules.filter((r) => r.apiGroups.includes('cluster.x-k8s.io'))).toEqual([]);
    expect(rules).toEqual(parse(UPSTREAM_CLUSTER_ROLE));
    const custom = autoscale({ cloud: { ...cloud, managementCluster: { kubeconfigSecret: 'mgmt', key: 'admin.conf' } } });
    expect(findObject(custom, 'Deployment', 'cluster-autoscaler').spec.template.spec.volumes[0].secret.items).toEqual([{ key: 'admin.conf', path: 'kubeconfig' }]);
    // Without a management cluster there is no mount and no --cloud-config.
    const inCluster = findObject(autoscale({ cloud: CLOUDS.clusterapi }), 'Deployment', 'cluster-autoscaler').spec.template.spec;
    expect(inCluster.volumes).toBeUndefined();
    expect(inCluster.containers[0].command.some((a: string) => a.startsWith('--cloud-config'))).toBe(false);
  });

  it.each([
    [{ kubeconfigSecret: 'Bad Name' }, /managementCluster.kubeconfigSecret is not valid.*"Bad Name"/],
    [{ kubeconfigSecret: '' }, /managementCluster.kubeconfigSecret/],
    [{ kubeconfigSecret: 'mgmt', key: '../etc' }, /managementCluster.key is not valid/],
    [{ kubeconfigSecret: 'mgmt', key: '..' }, /managementCluster.key/],
  ])('refuses a management cluster kubeconfig reference %j', (managementCluster, message) => {
    const e = shipshapeError(() => autoscale({ cloud: { provider: 'clusterapi', clusterName: 'c', managementCluster: managementCluster as any } }));
    expect(e.message).toMatch(message);
    expect(e.path).toBe('test/ca');
  });

  it('carries the upstream chart RBAC exactly: ClusterRole, Role and both bindings', () => {
    const result = autoscale({ cloud: AWS });
    expect(findObject(result, 'ClusterRole', 'cluster-autoscaler').rules).toEqual(parse(UPSTREAM_CLUSTER_ROLE));
    expect(findObject(result, 'Role', 'cluster-autoscaler').rules).toEqual([
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['cluster-autoscaler-status'], verbs: ['delete', 'get', 'update'] },
    ]);
    const subject = { kind: 'ServiceAccount', name: 'cluster-autoscaler', namespace: 'kube-system' };
    const crb = findObject(result, 'ClusterRoleBinding', 'cluster-autoscaler');
    expect(crb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-autoscaler' });
    expect(crb.subjects).toEqual([subject]);
    const rb = findObject(result, 'RoleBinding', 'cluster-autoscaler');
    expect(rb.metadata.namespace).toBe('kube-system');
    expect(rb.subjects).toEqual([subject]);
    expect(crb.metadata.namespace).toBeUndefined();
    expect(findObject(result, 'ClusterRole', 'cluster-autoscaler').metadata.namespace).toBeUndefined();
  });

  it('writes the priority expander ConfigMap under the key "priorities" and grants the Role access to it', () => {
    const result = autoscale({
      cloud: AWS,
      expander: ['priority', 'least-waste'],
      priorities: [
        { priority: 10, nodeGroups: ['batch'] },
        { priority: 50, nodeGroups: ['webapi'], patterns: ['.*spot.*'] },
      ],
    });
    expectValidAndClean(result);
    const cm = findObject(result, 'ConfigMap', 'cluster-autoscaler-priority-expander');
    expect(cm.metadata.namespace).toBe('kube-system');
    expect(Object.keys(cm.data)).toEqual(['priorities']);
    expect(parse(cm.data.priorities)).toEqual({ 50: ['^webapi$', '.*spot.*'], 10: ['^batch$'] });
    expect(command(result)).toContain('--expander=priority,least-waste');
    const role = findObject(result, 'Role', 'cluster-autoscaler');
    expect(role.rules[0].verbs).toEqual(['create', 'list', 'watch']);
    expect(role.rules[1].resourceNames).toEqual(['cluster-autoscaler-status', 'cluster-autoscaler-priority-expander']);
  });

  it("matches priority patterns against the cloud's node group ids", () => {
    const capi = autoscale({ cloud: { provider: 'clusterapi', clusterName: 'c' }, expander: 'priority', priorities: [{ priority: 1, nodeGroups: ['webapi'] }] });
    const pattern = parse(findObject(capi, 'ConfigMap', 'cluster-autoscaler-priority-expander').data.priorities)[1][0];
    expect(new RegExp(pattern).test('MachineDeployment/clusters/webapi')).toBe(true);
    const gce = autoscale({ cloud: { provider: 'gce' }, expander: 'priority', priorities: [{ priority: 1, nodeGroups: ['batch'] }] });
    const gcePattern = parse(findObject(gce, 'ConfigMap', 'cluster-autoscaler-priority-expander').data.priorities)[1][0];
    expect(new RegExp(gcePattern).test('https://www.googleapis.com/compute/v1/projects/p/zones/z/instanceGroups/batch-grp-1a')).toBe(true);
  });

  it('runs in kube-system as system-cluster-critical with a PDB, a hardened securityContext, /health-check liveness and a metrics Service', () => {
    const result = autoscale({ cloud: AWS });
    for (const o of result.objects.filter((x) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(x.manifest.kind))) {
      expect(o.manifest.metadata.namespace).toBe('kube-system');
    }
    const pod = findObject(result, 'Deployment', 'cluster-autoscaler').spec.template.spec;
    expect(pod.priorityClassName).toBe('system-cluster-critical');
    expect(pod.serviceAccountName).toBe('cluster-autoscaler');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } });
    const c = pod.containers[0];
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/health-check', port: 8085 });
    const pdb = findObject(result, 'PodDisruptionBudget', 'cluster-autoscaler');
    expect(pdb.spec.selector.matchLabels).toEqual(findObject(result, 'Deployment', 'cluster-autoscaler').spec.selector.matchLabels);
    expect(pdb.spec.maxUnavailable).toBe(1);
    const svc = findObject(result, 'Service', 'cluster-autoscaler');
    expect(svc.spec.ports).toEqual([{ name: 'http', port: 8085, targetPort: 'http', protocol: 'TCP' }]);
  });

  it('derives the image from the cluster minor for every pinned release', () => {
    for (const [minor, tag] of Object.entries(CLUSTER_AUTOSCALER_RELEASES)) {
      const result = autoscale({ cloud: AWS }, testEnvironment({ kubernetesVersion: `1.${minor}.4` }));
      const image = findObject(result, 'Deployment', 'cluster-autoscaler').spec.template.spec.containers[0].image;
      expect(image).toBe(`registry.k8s.io/autoscaling/cluster-autoscaler:${tag}`);
      expect(tag).toMatch(new RegExp(`^v1\\.${minor}\\.\\d+$`));
    }
  });

  it('fails for a Kubernetes minor with no pinned release, and for an image of another minor', () => {
    const e = shipshapeError(() => autoscale({ cloud: AWS }, testEnvironment({ kubernetesVersion: '1.40' })));
    expect(e.message).toMatch(/no cluster-autoscaler release is pinned for Kubernetes 1\.40/);
    expect(e.path).toBe('test/ca');
    const mismatch = shipshapeError(() => autoscale({ cloud: AWS, image: 'registry.k8s.io/autoscaling/cluster-autoscaler:v1.28.7' }));
    expect(mismatch.message).toMatch(/1\.28 but the cluster runs Kubernetes 1\.29/);
    const override = autoscale({ cloud: AWS, image: 'registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.4' });
    expect(findObject(override, 'Deployment', 'cluster-autoscaler').spec.template.spec.containers[0].image).toMatch(/v1\.29\.4$/);
    expect(() => autoscale({ cloud: AWS, image: 'registry.k8s.io/autoscaling/cluster-autoscaler:latest' })).toThrow(/pinned/);
  });

  it('refuses a config that would scale nothing instead of rendering no Deployment', () => {
    const empty = testEnvironment({ nodeGroups: [] });
    for (const cloud of [AWS, { provider: 'gce' as const }]) {
      const e = shipshapeError(() => autoscale({ cloud }, empty));
      expect(e.message).toMatch(/no node groups and no auto-discovery/);
      expect(e.path).toBe('test/ca');
    }
    expect(() => autoscale({ cloud: AWS, nodeGroups: [] })).toThrow(/no node groups/);
    // Auto-discovery alone is a complete configuration.
    expect(autoscale({ cloud: { ...AWS, autoDiscovery: { clusterName: 'c' } } }, empty).problems).toEqual([]);
  });

  it('rejects contradictory bounds, unknown groups and mismatched expander settings', () => {
    expect(() => autoscale({ cloud: AWS, nodeGroups: [{ name: 'webapi', minSize: 5, maxSize: 4 }] })).toThrow(/minSize 5 is greater than maxSize 4/);
    expect(() => autoscale({ cloud: AWS, nodeGroups: [{ name: 'webapi', minSize: -1 }] })).toThrow(/minSize must be an integer from 0 to 2147483647/);
    expect(() => new Environment({ name: 'x', kubernetesVersion: '1.29', nodeGroups: [{ name: 'a', minSize: 4, maxSize: 3 }] })).toThrow(ShipshapeError);
    expect(() => autoscale({ cloud: AWS, nodeGroups: ['gpu'] })).toThrow(/node group "gpu" is not defined/);
    expect(() => autoscale({ cloud: AWS, nodeGroups: ['webapi', 'webapi'] })).toThrow(/listed twice/);
    expect(() => autoscale({ cloud: AWS, expander: 'priority' })).toThrow(/needs priorities/);
    expect(() => autoscale({ cloud: AWS, priorities: [{ priority: 1, nodeGroups: ['webapi'] }] })).toThrow(/does not include 'priority'/);
    expect(() => autoscale({ cloud: AWS, expander: 'price' })).toThrow(/only for GCE/);
    expect(() => autoscale({ cloud: AWS, expander: 'priority', priorities: [{ priority: 1, patterns: ['('] }] })).toThrow(/invalid regular expression/);
    expect(() =>
      autoscale({
        cloud: AWS,
        expander: 'priority',
        priorities: [
          { priority: 1, nodeGroups: ['webapi'] },
          { priority: 1, nodeGroups: ['batch'] },
        ],
      }),
    ).toThrow(/listed twice/);
    expect(() => autoscale({ cloud: { provider: 'aws', region: 'Europe' } })).toThrow(/cloud.region/);
    expect(() => autoscale({ cloud: { ...AWS, roleArn: 'role/ca' } })).toThrow(/cloud.roleArn/);
    // IRSA only works on EKS: on a kubeadm control plane the pod would silently run without the role.
    const kubeadm = testEnvironment({ controlPlane: { kind: 'kubeadm' } });
    expect(() => autoscale({ cloud: { ...AWS, roleArn: 'arn:aws:iam::123456789012:role/ca' } }, kubeadm)).toThrow(/only EKS turns that annotation into credentials/);
    expect(() => autoscale({ cloud: { ...AWS, roleArn: 'arn:aws:iam::123456789012:role/ca' } }, testEnvironment({ controlPlane: { kind: 'eks' } }))).not.toThrow();
    expect(() => autoscale({ cloud: AWS, scaleDown: { utilizationThreshold: 1.5 } })).toThrow(/utilizationThreshold/);
    expect(() => autoscale({ cloud: AWS, scaleDown: { unneededTime: Duration.millis(10) } })).toThrow(/unneededTime/);
  });

  it('renders scale-down settings and narrower per-group bounds', () => {
    const args = command(
      autoscale({
        cloud: AWS,
        nodeGroups: [{ name: 'webapi', maxSize: 4 }],
        scaleDown: { enabled: true, delayAfterAdd: Duration.minutes(15), unneededTime: Duration.seconds(90), utilizationThreshold: 0.6 },
        skipNodesWithLocalStorage: true,
        balanceSimilarNodeGroups: false,
        balancingIgnoreLabels: ['eks.amazonaws.com/nodegroup'],
      }),
    );
    expect(args).toEqual(
      expect.arrayContaining([
        '--nodes=3:4:webapi',
        '--scale-down-delay-after-add=15m',
        '--scale-down-unneeded-time=90s',
        '--scale-down-utilization-threshold=0.6',
        '--skip-nodes-with-local-storage=true',
        '--balance-similar-node-groups=false',
        '--balancing-ignore-label=eks.amazonaws.com/nodegroup',
      ]),
    );
    expect(args.filter((a) => a.startsWith('--nodes='))).toHaveLength(1);
  });

  it('spreads standby replicas over nodes and stays policy clean next to metrics-server', () => {
    const result = synthStack((stack) => {
      new ClusterAutoscaler(stack, 'ca', { cloud: AWS, replicas: 2 });
      new MetricsServer(stack, 'ms');
    });
    expectValidAndClean(result);
    expect(objectsOfKind(result, 'Deployment')).toHaveLength(2);
  });
});

// Property test: any combination of props yields schema-valid, policy-clean output whose flags agree with the
// props, or a ShipshapeError naming the construct path.
describe('ClusterAutoscaler properties', () => {
  // Mostly valid values with a minority of wrong ones, so both the output and the errors are exercised.
  const groupName = fc.constantFrom('webapi', 'batch', 'webapi', 'batch', 'gpu');
  const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });
  const cloud: fc.Arbitrary<AutoscalerCloud> = fc.oneof(
    fc.record({
      provider: fc.constant('aws' as const),
      region: fc.constantFrom('eu-west-1', 'us-east-2', 'ap-south-1', 'nowhere'),
      autoDiscovery: maybe(fc.record({ clusterName: fc.constantFrom('acme', 'acme-prod', 'bad name') })),
    }),
    fc.record({ provider: fc.constant('gce' as const) }),
    fc.record({
      provider: fc.constant('azure' as const),
      subscriptionId: fc.constantFrom('0b7e1c5a-1111-4222-8333-944455556666', '0b7e1c5a-1111-4222-8333-944455556666', 'x'),
      resourceGroup: fc.constant('rg'),
      identity: fc.constantFrom({ workloadIdentityClientId: '7d5c8b9e-1111-4222-8333-944455556666' }, { credentialsSecret: 'azure-creds' }),
    }),
    fc.record({
      provider: fc.constant('clusterapi' as const),
      clusterName: fc.constantFrom('acme', 'acme', ''),
      managementCluster: maybe(fc.record({ kubeconfigSecret: fc.constantFrom('mgmt-kubeconfig', 'mgmt-kubeconfig', 'Bad') }, { requiredKeys: ['kubeconfigSecret'] })),
    }),
  );
  const bound = maybe(fc.integer({ min: -1, max: 12 }));
  const priorities = fc.array(fc.record({ priority: fc.integer({ min: -1, max: 100 }), nodeGroups: fc.array(groupName, { minLength: 1, maxLength: 2 }) }), { minLength: 1, maxLength: 2 });
  const expanderConfig = fc.oneof(
    { weight: 3, arbitrary: fc.constant({}) },
    { weight: 2, arbitrary: fc.record({ expander: fc.constantFrom('least-waste' as const, 'random' as const, 'most-pods' as const, 'price' as const) }) },
    { weight: 3, arbitrary: fc.record({ expander: fc.constantFrom('priority' as const, ['priority' as const, 'least-waste' as const]), priorities }) },
    { weight: 1, arbitrary: fc.record({ expander: maybe(fc.constant('priority' as const)), priorities: maybe(priorities) }) },
  );
  const props: fc.Arbitrary<ClusterAutoscalerProps> = fc
    .tuple(
      fc.record(
        {
          cloud,
          nodeGroups: maybe(fc.array(fc.oneof(groupName, fc.record({ name: groupName, minSize: bound, maxSize: bound })), { maxLength: 2 })),
          scaleDown: maybe(
            fc.record({ utilizationThreshold: maybe(fc.double({ min: -0.2, max: 1.2, noNaN: true })), unneededTime: maybe(fc.integer({ min: 0, max: 3600 }).map((x) => Duration.seconds(x))) }),
          ),
          skipNodesWithLocalStorage: maybe(fc.boolean()),
          replicas: maybe(fc.integer({ min: 0, max: 3 })),
        },
        { requiredKeys: ['cloud'] },
      ),
      expanderConfig,
    )
    .map(([base, expander]) => ({ ...base, ...expander }) as ClusterAutoscalerProps);
  const minor = fc.constantFrom('1.27', '1.28', '1.29', '1.30', '1.31', '1.32', '1.33');

  it('produces valid, clean output or a ShipshapeError naming the construct', () => {
    let valid = 0;
    fc.assert(
      fc.property(props, minor, (p, version) => {
        const stack: Stack = newStack(testEnvironment({ kubernetesVersion: version }));
        let autoscaler: ClusterAutoscaler;
        try {
          autoscaler = new ClusterAutoscaler(stack, 'ca', p);
        } catch (e) {
          expect(e).toBeInstanceOf(ShipshapeError);
          expect((e as ShipshapeError).path).toBe('test/ca');
          return;
        }
        new MetricsServer(stack, 'ms');
        valid++;
        const result = synthesizeStack(stack);
        expectValidAndClean(result);
        const args = findObject(result, 'Deployment', 'cluster-autoscaler').spec.template.spec.containers[0].command as string[];
        expect(args).toContain(`--cloud-provider=${p.cloud.provider}`);
        // No provider here creates or deletes Node objects, and Cluster API rules sit where the objects are read.
        const clusterRules = findObject(result, 'ClusterRole', 'cluster-autoscaler').rules as any[];
        expect(clusterRules.some((r) => r.resources.includes('nodes') && (r.verbs.includes('create') || r.verbs.includes('delete')))).toBe(false);
        const separateManagement = p.cloud.provider === 'clusterapi' && p.cloud.managementCluster !== undefined;
        expect(clusterRules.some((r) => r.apiGroups.includes('cluster.x-k8s.io'))).toBe(p.cloud.provider === 'clusterapi' && !separateManagement);
        expect(args.some((a) => a.startsWith('--cloud-config='))).toBe(separateManagement);
        // Every scaled group appears with bounds min ≤ max, and the image minor matches the cluster.
        for (const g of autoscaler.scaledGroups) expect(g.minSize).toBeLessThanOrEqual(g.maxSize);
        const nodes = args.filter((a) => a.startsWith('--nodes='));
        for (const n of nodes) {
          const [min, max] = n.slice('--nodes='.length).split(':').map(Number);
          expect(min).toBeLessThanOrEqual(max);
        }
        expect(nodes.length + args.filter((a) => a.startsWith('--node-group-auto-discovery=')).length).toBeGreaterThan(0);
        expect(autoscaler.image).toContain(`:v${version}.`);
        const usesPriority = args.some((a) => a.startsWith('--expander=') && a.includes('priority'));
        expect(objectsOfKind(result, 'ConfigMap').some((c) => c.metadata.name === 'cluster-autoscaler-priority-expander')).toBe(usesPriority);
      }),
      { numRuns: 150 },
    );
    // The generator must exercise the valid space too, not only errors.
    expect(valid).toBeGreaterThan(15);
  });
});

describe('ClusterAutoscaler durations', () => {
  it("refuses NaN, infinite, fractional and non-Duration values with a ShipshapeError, not cdk8s' plain Error", () => {
    for (const [scaleDown, field] of [
      [{ delayAfterAdd: Duration.seconds(NaN) }, 'scaleDown.delayAfterAdd'],
      [{ unneededTime: Duration.minutes(Infinity) }, 'scaleDown.unneededTime'],
      [{ unneededTime: Duration.seconds(1.5) }, 'scaleDown.unneededTime'],
      [{ delayAfterAdd: Duration.seconds(0) }, 'scaleDown.delayAfterAdd'],
      [{ delayAfterAdd: '10m' as unknown as Duration }, 'scaleDown.delayAfterAdd'],
    ] as const) {
      const e = shipshapeError(() => autoscale({ cloud: AWS, scaleDown }));
      expect(e.path).toBe('test/ca');
      expect(e.message).toContain(field);
      expect(e.fix).toMatch(/Duration\.minutes/);
    }
    expect(shipshapeError(() => autoscale({ cloud: AWS, maxNodeProvisionTime: Duration.hours(NaN) })).message).toMatch(/maxNodeProvisionTime must be a finite, whole number of seconds.*\(got NaN\)/);
    expect(command(autoscale({ cloud: AWS, scaleDown: { unneededTime: Duration.seconds(90) } }))).toContain('--scale-down-unneeded-time=90s');
  });
});

describe('ClusterAutoscaler Go duration flags', () => {
  // 2^63-1 nanoseconds, the longest duration Go's time.ParseDuration reads, in whole seconds.
  const GO_MAX_SECONDS = 9_223_372_036;
  const flag = (args: readonly string[], name: string) => args.find((a) => a.startsWith(`--${name}=`))!.slice(name.length + 3);
  const args = (props: Partial<ClusterAutoscalerProps>) => new ClusterAutoscaler(newStack(), 'ca', { cloud: AWS, ...props }).args;
  // The value Go reads from the flag: whole minutes or seconds, no exponent, no fraction.
  const goSeconds = (text: string) => {
    const m = /^(\d+)(m|s)$/.exec(text);
    expect(m, `"${text}" is not a Go duration of whole minutes or seconds`).not.toBeNull();
    return Number(m![1]) * (m![2] === 'm' ? 60 : 1);
  };

  it('refuses a huge finite Duration instead of writing it in exponent notation', () => {
    for (const [scaleDown, field] of [
      [{ unneededTime: Duration.seconds(1e21) }, 'scaleDown.unneededTime'],
      [{ delayAfterAdd: Duration.days(1e9) }, 'scaleDown.delayAfterAdd'],
      [{ unneededTime: Duration.seconds(GO_MAX_SECONDS + 1) }, 'scaleDown.unneededTime'],
    ] as const) {
      const e = shipshapeError(() => args({ scaleDown }));
      expect(e.path).toBe('test/ca');
      expect(e.message).toContain(`${field} is longer than 9223372036 seconds`);
    }
    expect(shipshapeError(() => args({ maxNodeProvisionTime: Duration.seconds(1e21) })).message).toMatch(/maxNodeProvisionTime is longer than/);
    // The longest Go duration itself is written out in full.
    expect(flag(args({ scaleDown: { unneededTime: Duration.seconds(GO_MAX_SECONDS) } }), 'scale-down-unneeded-time')).toBe('9223372036s');
    expect(flag(args({ maxNodeProvisionTime: Duration.minutes(153_722_867) }), 'max-node-provision-time')).toBe('153722867m');
  });

  it('writes every whole number of seconds Go can hold as the same duration', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: GO_MAX_SECONDS }), (seconds) => {
        const written = args({ scaleDown: { delayAfterAdd: Duration.seconds(seconds), unneededTime: Duration.seconds(seconds) }, maxNodeProvisionTime: Duration.seconds(seconds) });
        for (const name of ['scale-down-delay-after-add', 'scale-down-unneeded-time', 'max-node-provision-time']) {
          expect(goSeconds(flag(written, name))).toBe(seconds);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('ClusterAutoscaler node group bounds', () => {
  it('caps node group bounds at int32, as the cloud APIs and Cluster API annotations hold them', () => {
    const huge = testEnvironment({ nodeGroups: [{ name: 'big', minSize: 0, maxSize: 2 ** 31 }] });
    const e = shipshapeError(() => autoscale({ cloud: AWS }, huge));
    expect(e.path).toBe('test/ca');
    expect(e.message).toMatch(/nodeGroups\.big\.maxSize must be an integer from 1 to 2147483647 \(got 2147483648\)/);
    expect(shipshapeError(() => autoscale({ cloud: AWS, nodeGroups: [{ name: 'webapi', minSize: 2 ** 31, maxSize: 2 ** 31 }] })).message).toMatch(
      /nodeGroups\.webapi\.minSize must be an integer from 0 to 2147483647/,
    );
    expect(shipshapeError(() => autoscale({ cloud: AWS, nodeGroups: [{ name: 'webapi', maxSize: 1e21 }] })).message).toMatch(/nodeGroups\.webapi\.maxSize/);
    const widest = autoscale({ cloud: AWS, nodeGroups: [{ name: 'webapi', maxSize: 2 ** 31 - 1 }] });
    expectValidAndClean(widest);
    expect(command(widest)).toContain('--nodes=3:2147483647:webapi');
  });

  it('exposes the scaled groups as nodeGroups, keeping scaledGroups as a deprecated alias', () => {
    const stack = newStack();
    const ca = new ClusterAutoscaler(stack, 'ca', { cloud: AWS, nodeGroups: ['batch', { name: 'webapi', maxSize: 4 }] });
    expect(ca.nodeGroups).toEqual([
      { name: 'batch', cloudGroupName: 'batch', minSize: 0, maxSize: 2 },
      { name: 'webapi', cloudGroupName: 'webapi', minSize: 3, maxSize: 4 },
    ]);
    expect(ca.scaledGroups).toBe(ca.nodeGroups);
    // Discovered groups are not scaled by explicit bounds.
    expect(new ClusterAutoscaler(newStack(), 'ca', { cloud: { ...AWS, autoDiscovery: { clusterName: 'acme' } } }).nodeGroups).toEqual([]);
  });
});
