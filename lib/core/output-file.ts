import { Construct } from 'constructs';
import { ShipshapeError } from './errors';
import { LocatedCredential, scanFile, scanYamlDocuments } from './policy/credentials';
import { toYaml } from './yaml';

/** A YAML file given as its documents, which synth renders with toYaml and scans as values instead of parsing the file again. */
export interface YamlDocuments {
  /**
   * Comment lines written before the first document, each starting with `#`.
   * @default - none
   */
  readonly header?: string;
  /** The documents in order (mappings or sequences), each rendered with toYaml and separated from the next by a `---` line. */
  readonly documents: readonly object[];
}

/** Properties of an {@link OutputFile}. */
export interface OutputFileProps {
  /**
   * Path of the file, relative to the environment's output directory
   * (`hosts/daemon.json` → `dist/<env>/hosts/daemon.json`) or, when `shared`,
   * to the output root (`argocd/app.yaml` → `dist/argocd/app.yaml`).
   */
  readonly path: string;
  /** File content, or a function producing it, or the YAML documents it renders, at synth time (after every construct is configured). */
  readonly content: string | (() => string | YamlDocuments);
  /**
   * Whether the path is relative to the output root instead of the environment directory.
   * @default false
   */
  readonly shared?: boolean;
  /**
   * Credentials the owner's declared exemptions allow in this file (synth scans every written file with the
   * shared credential detector and refuses any other finding).
   * @default - none is allowed
   */
  readonly allowsCredential?: (finding: LocatedCredential) => boolean;
}

/**
 * Top-level folders of the output root that hold files shared by every environment (ArgoCdApplication
 * writes `argocd/<env>.yaml`); no environment may be named like one, or its files would mix into it.
 */
export const SHARED_OUTPUT_FOLDERS = ['argocd'] as const;

// Paths are forward-slash relative paths without '..' so a file can never escape the output directory.
const SAFE_PATH = /^(?!\/)(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._\-/]+$/;

/** A non-Kubernetes file the synth writes next to the manifests (daemon.json, docker-stack.yml, rules...). */
export class OutputFile extends Construct {
  /** Whether a construct is an OutputFile. */
  public static isOutputFile(x: unknown): x is OutputFile {
    return x instanceof OutputFile;
  }

  public readonly path: string;
  public readonly shared: boolean;
  private readonly content: string | (() => string | YamlDocuments);
  private readonly allows: (finding: LocatedCredential) => boolean;

  constructor(scope: Construct, id: string, props: OutputFileProps) {
    super(scope, id);
    if (!SAFE_PATH.test(props.path) || (!props.shared && props.path.startsWith('kubernetes/'))) {
      throw new ShipshapeError(this, {
        problem: 'an output file path must be relative, without "." or ".." segments, and outside kubernetes/ (which holds the manifests)',
        value: props.path,
        fix: 'use a path such as "hosts/daemon.json"',
      });
    }
    this.path = props.path;
    this.shared = props.shared ?? false;
    this.content = props.content;
    this.allows = props.allowsCredential ?? (() => false);
  }

  /** Whether the owner's exemptions allow a credential found in the rendered file. */
  public allowsCredential(finding: LocatedCredential): boolean {
    return this.allows(finding);
  }

  /** Renders the content. */
  public render(): string {
    return this.rendered().content;
  }

  /**
   * Renders the content and scans it for credentials as `scanFile` would: a YAML file given as documents
   * (comment lines, then toYaml of each) is the rendering of those values, so the values are scanned instead.
   */
  public renderAndScan(): { readonly content: string; readonly credentials: readonly LocatedCredential[] } {
    const { content, yaml } = this.rendered();
    if (yaml === undefined) return { content, credentials: scanFile(this.path, content) };
    // A header line the parser reads as more than a comment, a document that is no mapping or sequence, or a file not read as YAML: scan the text.
    const comments = yaml.header === undefined || yaml.header.split('\n').every((l) => /^#[^\r]*$/.test(l));
    const values = yaml.documents.length > 0 && yaml.documents.every((d) => d !== null && typeof d === 'object');
    return { content, credentials: comments && values && /\.ya?ml$/i.test(this.path) ? scanYamlDocuments(yaml.documents) : scanFile(this.path, content) };
  }

  private rendered(): { readonly content: string; readonly yaml?: YamlDocuments } {
    const given = typeof this.content === 'string' ? this.content : this.content();
    if (typeof given === 'string') return { content: given };
    const documents = given.documents.map((d) => toYaml(d)).join('---\n');
    return { content: given.header === undefined ? documents : `${given.header}\n${documents}`, yaml: given };
  }
}
