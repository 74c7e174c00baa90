import { App } from 'cdk8s';
import { synthesizeApp } from '../../lib';
import { renderFiles } from '../../lib/core/writer';
import { YAML_OPTIONS } from '../../lib/core/yaml';

/** One file of a dump: a YAML object to serialize, or text written as is. */
export type DumpEntry = { readonly path: string; readonly object: unknown } | { readonly path: string; readonly text: string };

/**
 * The objects and files a synth of `app` writes, as JSON: the input of the floor
 * (bench/programs/floor.cjs), which only parses it and writes the same files with
 * the same YAML library and options.
 */
export function dumpApp(app: App): { yamlOptions: typeof YAML_OPTIONS; files: DumpEntry[] } {
  const results = synthesizeApp(app);
  const rendered = renderFiles(results);
  const objects = new Map<string, unknown>();
  for (const r of results) {
    const dir = `${r.environment.name}/kubernetes`;
    for (const o of r.objects) objects.set(`${dir}/${o.fileName}`, o.manifest);
    objects.set(`${dir}/kustomization.yaml`, { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: r.objects.map((o) => o.fileName) });
  }
  const files: DumpEntry[] = [...rendered.keys()].sort().map((p) => (objects.has(p) ? { path: p, object: objects.get(p) } : { path: p, text: rendered.get(p)! }));
  return { yamlOptions: YAML_OPTIONS, files };
}
