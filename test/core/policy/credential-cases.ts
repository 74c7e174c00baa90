// Credential cases shared by the Kubernetes policy tests and the Swarm tests, so both back ends refuse and
// accept exactly the same values. Tokens are built from parts so that this file itself holds no token.

const ALNUM = 'aB3dE6gH9jK2mN5pQ8sT1vW4yZ7cF0hL';
const repeat = (s: string, n: number) => s.repeat(Math.ceil(n / s.length)).slice(0, n);

export const TOKENS = {
  github: `gh${'p'}_${repeat(ALNUM, 36)}`,
  githubOauth: `gh${'o'}_${repeat(ALNUM, 36)}`,
  githubFineGrained: `github${'_pat_'}${repeat(ALNUM, 22)}_${repeat(ALNUM, 59)}`,
  awsAccessKeyId: `AK${'IA'}${repeat('Q3RT7YWZ2X4C6V8B', 16)}`,
  awsSessionKeyId: `AS${'IA'}${repeat('Z7CF0HL2MN5PQ8ST', 16)}`,
  jwt: `ey${'J'}hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.ey${'J'}zdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.${repeat(ALNUM, 43)}`,
  slack: `xo${'xb'}-${repeat('1234567890', 12)}-${repeat(ALNUM, 24)}`,
  stripe: `sk${'_live_'}${repeat(ALNUM, 24)}`,
  privateKey: `-----BEGIN ${'RSA PRIVATE'} KEY-----\nMIIEowIBAAKCAQEA${repeat(ALNUM, 40)}\n-----END ${'RSA PRIVATE'} KEY-----`,
} as const;

/** A named value: an environment variable, a ConfigMap key or a label. */
export interface VariableCase {
  readonly name: string;
  readonly value: string;
  /** Why it is (or is not) a credential. */
  readonly why: string;
}

/** Named values that hold a credential: refused by the name rule or the value-shape rule. */
export const CREDENTIAL_VARIABLES: readonly VariableCase[] = [
  { name: 'DB_PASSWORD', value: 'hunter2', why: 'credential name' },
  { name: 'DB_PWD', value: 'Tr0ub4dor&3', why: 'abbreviated credential name' },
  { name: 'DB_PASS', value: 'correct-horse', why: 'abbreviated credential name' },
  { name: 'PGPASSWORD', value: 'hunter2', why: 'credential word inside one token' },
  { name: 'AUTH', value: 's3cr3t-value', why: 'AUTH carries a password (Redis and friends)' },
  { name: 'REDIS_AUTH', value: 's3cr3t-value', why: '*_AUTH carries a password' },
  { name: 'SENTRY_DSN', value: 'https://3f1c2e9a8b7d4c6e@o123456.ingest.sentry.io/42', why: 'a DSN carries its key as the URL user' },
  { name: 'apiKey', value: 'f00dfeedcafe', why: 'camelCase credential name' },
  { name: 'client_secret', value: 'abc123', why: 'credential name' },
  { name: 'AWS_SECRET_ACCESS_KEY', value: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', why: 'credential name' },
  { name: 'DATABASE_URL', value: 'postgres://admin:hunter2@db:5432/app', why: 'password in a URL' },
  { name: 'CACHE_URL', value: 'redis://:hunter2@cache:6379/0', why: 'password in a URL with an empty user' },
  { name: 'JDBC_URL', value: 'jdbc:postgresql://db:5432/app?user=app&password=hunter2', why: 'password in a query string' },
  { name: 'JAVA_OPTS', value: '-Xmx1g -Dspring.datasource.password=hunter2', why: 'password assignment inside options' },
  { name: 'GREETING', value: TOKENS.github, why: 'GitHub token shape' },
  { name: 'CI_HELPER', value: TOKENS.githubOauth, why: 'GitHub OAuth token shape' },
  { name: 'REPO_ACCESS', value: TOKENS.githubFineGrained, why: 'GitHub fine-grained token shape' },
  { name: 'AWS_ACCESS_KEY_ID', value: TOKENS.awsAccessKeyId, why: 'AWS access key id shape' },
  { name: 'UPLOAD_IDENTITY', value: TOKENS.awsSessionKeyId, why: 'AWS temporary access key id shape' },
  { name: 'SESSION', value: TOKENS.jwt, why: 'JWT shape' },
  { name: 'NOTIFY', value: TOKENS.slack, why: 'Slack token shape' },
  { name: 'BILLING', value: TOKENS.stripe, why: 'Stripe key shape' },
  { name: 'TLS', value: TOKENS.privateKey, why: 'private key block' },
];

/** Named values that look credential-ish but are not: no finding. */
export const PLAIN_VARIABLES: readonly VariableCase[] = [
  { name: 'SORT_KEY', value: 'created_at', why: 'key without a credential qualifier' },
  { name: 'PRIMARY_KEY', value: 'id', why: 'key without a credential qualifier' },
  { name: 'BYPASS_CACHE', value: 'true', why: '"pass" only inside another word' },
  { name: 'MAX_TOKENS', value: '4096', why: 'a count of tokens' },
  { name: 'SECRETS_DIR', value: '/run/secrets', why: 'where secrets are, a path' },
  { name: 'TOKEN_TTL', value: '3600', why: 'a property of a token' },
  { name: 'PASSWORD_MIN_LENGTH', value: '12', why: 'a property of passwords' },
  { name: 'POSTGRES_PASSWORD_FILE', value: '/run/secrets/pg', why: 'a path to the secret file' },
  { name: 'PGPASSWORD', value: '$(DB_PASSWORD)', why: 'a reference to another variable' },
  { name: 'AUTH_TYPE', value: 'oauth2', why: 'a property of authentication' },
  { name: 'AUTH', value: 'basic', why: 'an authentication scheme' },
  { name: 'KEYSPACE_NAME', value: 'orders', why: 'no credential word' },
  { name: 'TOKENIZER', value: 'bert-base', why: '"token" only as a prefix of another word' },
  { name: 'QUEUE_URL', value: 'amqp://queue:5672', why: 'URL without a login' },
  { name: 'DATABASE_URL', value: 'postgres://db:5432/app?sslmode=require', why: 'URL without a login' },
  { name: 'OAUTH_TOKEN_URL', value: 'https://login.example.com/oauth/token', why: 'an endpoint' },
  { name: 'GREETING', value: 'key=${AWS_SECRET_ACCESS_KEY}', why: 'a reference, no value' },
  { name: 'LOG_LEVEL', value: 'info', why: 'an ordinary setting' },
];

/** Command lines that carry a credential. */
export const CREDENTIAL_ARGS: readonly { readonly args: string[]; readonly why: string }[] = [
  { args: ['--db-password=hunter2'], why: 'flag=value' },
  { args: ['serve', '--password', 'hunter2'], why: 'flag followed by its value' },
  { args: ['sh', '-c', 'export PASSWORD=hunter2 && exec app'], why: 'shell assignment' },
  { args: ['curl', '-u', 'elastic:hunter2', 'http://es:9200/'], why: 'curl user:password' },
  { args: ['git', 'clone', `https://x-access-token:${TOKENS.github}@github.com/acme/app.git`], why: 'token in a URL' },
  { args: ['psql', 'postgresql://app:hunter2@db/app'], why: 'password in a URL' },
];

/** Command lines that mention credentials without holding one. */
export const PLAIN_ARGS: readonly { readonly args: string[]; readonly why: string }[] = [
  { args: ['--password-file=/run/secrets/db'], why: 'a path to the secret' },
  { args: ['docker', 'login', '--password-stdin', '-u', 'ci'], why: 'reads the password from stdin' },
  { args: ['sh', '-c', 'export PGPASSWORD="$(cat /run/secrets/pg)" && exec psql'], why: 'reads the secret file' },
  { args: ['--max-tokens=4096', '--sort-key', 'created_at'], why: 'not credentials' },
];
