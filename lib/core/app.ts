import { App } from 'cdk8s';
import { runByCdk8sCli } from './output-state';
import { synthesizesThroughShipshape } from './stack';
import { renderManifest, synthesizeApp } from './synth';
import { formatSummary, synth } from './writer';

/** Properties of a {@link ShipshapeApp}. */
export interface ShipshapeAppProps {
  /**
   * Directory `synth()` writes every environment into.
   * @default process.env.CDK8S_OUTDIR ?? 'dist' (as cdk8s's App: `cdk8s synth` passes its output directory there)
   */
  readonly outdir?: string;
}

/**
 * A cdk8s App whose `app.synth()` goes through shipshape: construct checks, policy, the atomic writer
 * (`<outdir>/<env>/kubernetes/`, `swarm/`, `hosts/` …) and one summary per environment printed, as
 * `synth(app)` from 'shipshape' does. Use it where a cdk8s program would use `new App()`.
 */
export class ShipshapeApp extends App {
  constructor(props: ShipshapeAppProps = {}) {
    super({ outdir: props.outdir });
    synthesizesThroughShipshape(this);
  }

  /**
   * Synthesizes every environment into `outdir` and prints each environment's summary (objects, warnings,
   * exemptions, notes). Throws a ShipshapeAggregateError listing every problem of every environment; the
   * previous output is then left as it was.
   */
  public override synth(): void {
    // cdk8s-cli reads the app's stdout and never shows it; stderr reaches the terminal.
    const print = runByCdk8sCli() ? console.error : console.log;
    for (const summary of synth(this, { outdir: this.outdir })) print(formatSummary(summary));
  }

  /**
   * Every Kubernetes object of every environment as one YAML stream in apply order, after the construct
   * checks and policy `synth()` runs; writes nothing. Swarm stack files and host files are not part of it.
   */
  public override synthYaml(): string {
    return synthesizeApp(this)
      .flatMap((r) => r.objects.map((o) => renderManifest(o.manifest)))
      .join('---\n');
  }
}
