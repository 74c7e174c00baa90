// The clouds' workload identity for Kubernetes pods: an annotation on the pod's ServiceAccount names the cloud
// identity, and the cloud's webhook or metadata server does the rest. One definition for the constructor check
// and the policy rule.

/** The ServiceAccount annotations of the clouds' workload identity, which their webhooks or metadata servers read. */
export const WORKLOAD_IDENTITY_ANNOTATIONS = {
  /** EKS IAM roles for service accounts (IRSA): the role the pod's AWS SDKs assume. */
  aws: 'eks.amazonaws.com/role-arn',
  /** GKE Workload Identity: the Google service account the pod acts as. */
  gcp: 'iam.gke.io/gcp-service-account',
  /** Azure Workload Identity: the client id of the managed identity or app registration. */
  azure: 'azure.workload.identity/client-id',
} as const;

/** A cloud whose workload identity a ServiceAccount annotation names. */
export type WorkloadIdentityCloud = keyof typeof WORKLOAD_IDENTITY_ANNOTATIONS;

/** Pod label the Azure Workload Identity webhook selects pods by (https://azure.github.io/azure-workload-identity/docs/topics/service-account-labels-and-annotations.html). */
export const AZURE_WORKLOAD_IDENTITY_LABEL = 'azure.workload.identity/use';

// Formats the clouds accept: an IAM role ARN in any partition (IAM paths are printable ASCII between slashes,
// role names 1-64 of [\w+=,.@-]); a Google service account e-mail (account and project ids 6-30 characters);
// an Entra client id (a UUID).
const IDENTITY_FORMATS: Record<WorkloadIdentityCloud, { pattern: RegExp; form: string; example: string }> = {
  aws: { pattern: /^arn:aws(-[a-z]+)*:iam::\d{12}:role\/([\x21-\x7e]+\/)?[\w+=,.@-]{1,64}$/, form: 'an IAM role ARN', example: 'arn:aws:iam::123456789012:role/shop' },
  gcp: {
    pattern: /^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z][-a-z0-9]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$/,
    form: 'a Google service account e-mail',
    example: 'shop@acme-prod.iam.gserviceaccount.com',
  },
  azure: { pattern: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, form: 'a client id (UUID)', example: '00000000-0000-0000-0000-000000000000' },
};

/** The clouds whose identity `annotations` name. */
export function identityClouds(annotations: Readonly<Record<string, unknown>> | undefined): WorkloadIdentityCloud[] {
  return (Object.keys(WORKLOAD_IDENTITY_ANNOTATIONS) as WorkloadIdentityCloud[]).filter((c) => annotations?.[WORKLOAD_IDENTITY_ANNOTATIONS[c]] !== undefined);
}

/** Why `value` is not the identity `cloud` takes, with the form and an example, or undefined. */
export function identityProblem(cloud: WorkloadIdentityCloud, value: unknown): { form: string; example: string } | undefined {
  const { pattern, form, example } = IDENTITY_FORMATS[cloud];
  return typeof value === 'string' && pattern.test(value) ? undefined : { form, example };
}
