import { ApiObject, App } from 'cdk8s';
import { AntiAffinityDeployment, Stack, exempt } from '../../lib';
import { environmentNamed } from '../../stacks/environments';
import { BENCH_ENVIRONMENTS, METRICS_EXEMPTION, generatedServices } from './spec';

/** An app with one Stack per environment, each holding `count` AntiAffinityDeployments. */
export function buildShipshapeScaleApp(count: number): App {
  const app = new App();
  const services = generatedServices(count);
  for (const { name } of BENCH_ENVIRONMENTS) {
    const environment = environmentNamed(name);
    const stack = new Stack(app, environment.name, { environment });
    for (const s of services) {
      const workload = new AntiAffinityDeployment(stack, s.name, { name: s.name, image: s.image, component: s.component, ports: [{ port: s.port }] });
      if (workload.autoscaler) exempt(ApiObject.of(workload.autoscaler), 'autoscaler-metrics', METRICS_EXEMPTION);
    }
  }
  return app;
}
