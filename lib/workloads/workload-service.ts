import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { exempt } from '../core/policy/exemptions';
import { assertDns1035Label, assertPortName } from '../core/validate';
import type { ServiceExposure, WorkloadPort } from './anti-affinity-deployment';

/** Ports with every default applied, each checked once and none repeated. */
export function resolvePorts(scope: Construct, ports: WorkloadPort[]): Required<WorkloadPort>[] {
  const resolved = ports.map((p, i) => ({
    port: assertInteger(scope, `ports[${i}].port`, p.port, 1, 65535),
    name: p.name ?? (i === 0 ? 'http' : `port-${p.port}`),
    protocol: p.protocol ?? 'TCP',
  }));
  for (const key of ['port', 'name'] as const) {
    const values = resolved.map((p) => p[key]);
    const dup = values.find((v, i) => values.indexOf(v) !== i);
    if (dup !== undefined) throw new ShipshapeError(scope, { problem: `two ports share the ${key} ${dup}`, value: ports, fix: `give every port its own ${key}` });
  }
  resolved.forEach((p, i) => assertPortName(scope, `ports[${i}].name`, p.name));
  return resolved;
}

/** The Service of the workload and the in-cluster URL of its first port. */
export interface ExposedService {
  readonly service: kplus.Service;
  readonly url: string;
}

/**
 * The Service in front of the pods, selecting them by their stable labels, or undefined when none is wanted
 * (`false`, or no ports and nothing asked).
 */
export function exposeService(
  scope: Construct,
  name: string,
  namespace: string,
  labels: Record<string, string>,
  selector: Readonly<Record<string, string>>,
  ports: Required<WorkloadPort>[],
  exposure: ServiceExposure | false | undefined,
): ExposedService | undefined {
  if (exposure === false || (exposure === undefined && ports.length === 0)) return undefined;
  if (ports.length === 0) {
    throw new ShipshapeError(scope, { problem: 'a Service was asked for but the container has no ports', value: exposure, fix: 'add ports, or set service: false' });
  }
  const type = exposure?.type ?? 'ClusterIP';
  assertDns1035Label(scope, 'name', name);
  const servicePorts = ports.map((p, i) => ({
    name: p.name,
    port: i === 0 ? assertInteger(scope, 'service.port', exposure?.port ?? p.port, 1, 65535) : p.port,
    targetPort: p.port,
    protocol: p.protocol === 'UDP' ? kplus.Protocol.UDP : kplus.Protocol.TCP,
  }));
  // The API server refuses two Service ports with one number and protocol.
  const taken = servicePorts.find((p, i) => servicePorts.findIndex((q) => q.port === p.port && q.protocol === p.protocol) !== i);
  if (taken) {
    throw new ShipshapeError(scope, {
      problem: `the Service would have two ports ${taken.port}: service.port gives the first container port the number of another`,
      value: { servicePort: exposure?.port, ports: ports.map((p) => p.port) },
      fix: 'choose a service.port that no other container port uses',
    });
  }
  const service = new kplus.Service(scope, 'service', {
    metadata: { name, labels },
    type: { ClusterIP: kplus.ServiceType.CLUSTER_IP, NodePort: kplus.ServiceType.NODE_PORT, LoadBalancer: kplus.ServiceType.LOAD_BALANCER }[type],
    ports: servicePorts,
  });
  for (const [key, value] of Object.entries(selector)) service.selectLabel(key, value);
  const serviceObject = ApiObject.of(service);
  // `Local` keeps the client address and avoids the extra node hop of `Cluster` (docs/practice.md#services).
  if (type !== 'ClusterIP') serviceObject.addJsonPatch(JsonPatch.add('/spec/externalTrafficPolicy', exposure?.externalTrafficPolicy ?? 'Local'));
  if (type === 'LoadBalancer') exempt(serviceObject, 'service-load-balancer', `requested through service.type of ${scope.node.path}`);
  return { service, url: `http://${name}.${namespace}.svc:${exposure?.port ?? ports[0].port}` };
}
