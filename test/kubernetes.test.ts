/**
 * deploy/kubernetes cannot be applied here (no cluster), so it is checked
 * offline, as docker-compose.yml is:
 *
 * - every object against the Kubernetes API schemas of the `kubernetes-models`
 *   package (its models validate with ajv against the OpenAPI definitions:
 *   types, required fields, formats), and for unknown fields (what
 *   `kubectl apply --validate=strict` refuses; the JSON schemas allow extra
 *   properties) against the same package's TypeScript interfaces, by
 *   type-checking each object as an object literal;
 * - the Secrets and ConfigMaps kustomize generates, as it will generate them
 *   (and, where kubectl is installed, `kubectl kustomize` renders the whole
 *   base, and every rendered object is validated too);
 * - against the code: every service present, ports as in lib/runtime/services.ts, only
 *   variables the code reads, probes on /health and /ready, one database URL
 *   Secret per subgraph, NetworkPolicies that match SUBGRAPH_PEERS.
 *
 * The checks return lists of problems; the last tests break manifests on
 * purpose and expect each check to notice.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMMON_ENV, GATEWAY, NODE_HEAP_OPTIONS, SUBGRAPH_NAMES, SUBGRAPH_PEERS, SUBGRAPHS, type ServiceInfo, type SubgraphName } from '../lib/runtime/services.js';
import { ROOT } from '../lib/runtime/subgraph.js';

const DIR = path.join(ROOT, 'deploy', 'kubernetes');
const SERVICES: ServiceInfo[] = [GATEWAY, ...SUBGRAPH_NAMES.map((name) => SUBGRAPHS[name])];
const IMAGE = 'federated-patient-record';

// Loose shapes: the schemas check the structure, these only name what the checks read.
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string>; stringData?: Record<string, string> };
interface Located {
  source: string;
  object: K8sObject;
}

interface Kustomization {
  resources: string[];
  images: { name: string; newName?: string; newTag?: string }[];
  configMapGenerator: { name: string; envs?: string[]; files?: string[]; literals?: string[] }[];
  secretGenerator: { name: string; envs?: string[]; files?: string[]; literals?: string[] }[];
}

const kustomization = parse(readFileSync(path.join(DIR, 'kustomization.yaml'), 'utf8')) as Kustomization;

/** Every document of a manifest file; YAML that Kubernetes (YAML 1.1) would read differently from YAML 1.2 is refused. */
function loadManifest(file: string): { objects: Located[]; problems: string[] } {
  const text = readFileSync(path.join(DIR, file), 'utf8');
  const problems: string[] = [];
  const objects: Located[] = [];
  const v12 = parseAllDocuments(text);
  const v11 = parseAllDocuments(text, { version: '1.1' });
  if (!Array.isArray(v12) || !Array.isArray(v11)) return { objects, problems: [`${file}: not a YAML stream`] };
  v12.forEach((document, index) => {
    for (const error of [...document.errors, ...document.warnings]) problems.push(`${file}#${index}: ${error.message}`);
    const object = document.toJS() as K8sObject | null;
    if (object === null) return;
    // `0440`, `on`, `yes`: a number or a boolean to Kubernetes, something else to YAML 1.2 readers.
    if (JSON.stringify(v11[index]!.toJS()) !== JSON.stringify(object)) problems.push(`${file}#${index}: reads differently as YAML 1.1 (quote it, or write octal modes in decimal)`);
    objects.push({ source: `${file}#${index} ${object.kind}/${object.metadata?.name}`, object });
  });
  return { objects, problems };
}

/** Reads a dotenv-style file as kustomize's `envs` does: KEY=VALUE lines, # comments. */
function readEnvFile(text: string): Record<string, string> {
  const entries = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const);
  return Object.fromEntries(entries);
}

/**
 * The ConfigMaps and Secrets kustomize generates, with their keys (the values
 * of secrets/ files, which are not committed, are placeholders).
 */
function generatedObjects(k: Kustomization): Located[] {
  const keysOf = (generator: Kustomization['secretGenerator'][number]): Record<string, string> => {
    const data: Record<string, string> = {};
    for (const file of generator.files ?? []) {
      const [key, source] = file.includes('=') ? file.split('=') as [string, string] : [path.basename(file), file];
      data[key] = `<${source}>`;
    }
    for (const file of generator.envs ?? []) {
      const local = path.join(DIR, file);
      // Database URL files live in secrets/ (not committed): their one key is `url`, as documented in kustomization.yaml.
      Object.assign(data, existsSync(local) && !file.startsWith('secrets/') ? readEnvFile(readFileSync(local, 'utf8')) : { url: `<${file}>` });
    }
    for (const literal of generator.literals ?? []) data[literal.slice(0, literal.indexOf('='))] = literal.slice(literal.indexOf('=') + 1);
    return data;
  };
  return [
    ...k.configMapGenerator.map((g) => ({ source: `kustomization.yaml configMapGenerator ${g.name}`, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data: keysOf(g) } })),
    ...k.secretGenerator.map((g) => ({ source: `kustomization.yaml secretGenerator ${g.name}`, object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: g.name }, type: 'Opaque', stringData: keysOf(g) } as K8sObject })),
  ];
}

type ModelClass = new (data: unknown) => { validate(): void };
const modelPath = (object: K8sObject) => `kubernetes-models/${object.apiVersion}/${object.kind}`;

/** Validates each object against its Kubernetes schema (kubernetes-models, ajv). */
async function schemaProblems(objects: Located[]): Promise<string[]> {
  const problems: string[] = [];
  for (const { source, object } of objects) {
    let Model: ModelClass | undefined;
    try {
      Model = ((await import(modelPath(object))) as Record<string, ModelClass>)[object.kind];
    } catch {
      // An unknown apiVersion or kind.
    }
    if (!Model) {
      problems.push(`${source}: no Kubernetes schema for ${object.apiVersion} ${object.kind}`);
      continue;
    }
    try {
      new Model(object).validate();
    } catch (error) {
      problems.push(`${source}: ${(error as Error).message}`);
    }
  }
  return problems;
}

/**
 * Fields the Kubernetes API does not know: each object is type-checked as an
 * object literal of the model's interface, so a misspelt or misplaced field is
 * an excess-property error.
 */
function unknownFieldProblems(objects: Located[]): string[] {
  const file = path.join(ROOT, '__kubernetes_manifests__.ts');
  const source = objects.map(({ object }, i) => `export const m${i}: import('${modelPath(object)}').I${object.kind} = ${JSON.stringify(object)};`).join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, source, language) : getSourceFile.call(host, name, language, ...rest));
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const line = diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line : -1;
    return `${objects[line]?.source ?? 'manifests'}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`;
  });
}

const withFileVariants = (names: readonly string[]) => names.flatMap((n) => [n, `${n}_FILE`]);

/** Variables the service's code reads (lib/runtime/services.ts). */
function knownVariables(service: ServiceInfo): Set<string> {
  const own = [`${service.envPrefix}_PORT`, `${service.envPrefix}_METRICS_PORT`];
  if (service.name === 'gateway') {
    return new Set([...own, ...withFileVariants(COMMON_ENV.gateway), ...SUBGRAPH_NAMES.map((n) => `${SUBGRAPHS[n].envPrefix}_URL`)]);
  }
  const peers = SUBGRAPH_PEERS[service.name as SubgraphName].map((peer) => `${SUBGRAPHS[peer].envPrefix}_URL`);
  return new Set([...own, `${service.envPrefix}_DATABASE_URL`, ...withFileVariants(COMMON_ENV.subgraph), ...peers]);
}

/** Which services may call this one's internal APIs and GraphQL endpoint: the gateway, and the subgraphs whose SUBGRAPH_PEERS name it. */
function expectedCallers(name: string): string[] | 'anywhere' {
  if (name === 'gateway') return 'anywhere';
  return ['gateway', ...SUBGRAPH_NAMES.filter((caller) => SUBGRAPH_PEERS[caller].includes(name as SubgraphName))].sort();
}

/** Who a NetworkPolicy lets reach a port: 'anywhere', or `app:<name>` / `namespace:<name>` peers. */
function allowedSources(policy: K8sObject, port: number, portName: string): string[] | 'anywhere' {
  const sources: string[] = [];
  for (const rule of policy.spec.ingress ?? []) {
    const coversPort = !rule.ports?.length || rule.ports.some((p: { port?: number | string }) => p.port === undefined || p.port === port || p.port === portName);
    if (!coversPort) continue;
    if (!rule.from?.length) return 'anywhere';
    for (const peer of rule.from) {
      if (peer.ipBlock) sources.push(`ip:${peer.ipBlock.cidr}`);
      else if (peer.namespaceSelector && !peer.podSelector) sources.push(`namespace:${peer.namespaceSelector.matchLabels?.['kubernetes.io/metadata.name'] ?? JSON.stringify(peer.namespaceSelector)}`);
      else if (peer.podSelector && !peer.namespaceSelector) sources.push(`app:${peer.podSelector.matchLabels?.['app.kubernetes.io/name'] ?? JSON.stringify(peer.podSelector)}`);
      else sources.push(`other:${JSON.stringify(peer)}`);
    }
  }
  return [...new Set(sources)].sort();
}

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** Everything one service's objects must agree on with the code and with each other. */
function serviceProblems(service: ServiceInfo, objects: Located[]): string[] {
  const problems: string[] = [];
  const name = service.name;
  const check = (ok: boolean, message: string) => {
    if (!ok) problems.push(`${name}: ${message}`);
  };
  const find = (kind: string) => objects.filter((o) => o.object.kind === kind && o.object.metadata.name === name).map((o) => o.object);
  const byName = (kind: string, objectName: string) => objects.find((o) => o.object.kind === kind && o.object.metadata.name === objectName)?.object;
  for (const kind of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy']) check(find(kind).length === 1, `one ${kind} named ${name} (found ${find(kind).length})`);
  const [deployment] = find('Deployment');
  const [svc] = find('Service');
  const [hpa] = find('HorizontalPodAutoscaler');
  const [pdb] = find('PodDisruptionBudget');
  const [policy] = find('NetworkPolicy');
  if (!deployment || !svc || !hpa || !pdb || !policy) return problems;

  const pod = deployment.spec.template;
  const podLabels = pod.metadata?.labels as Record<string, string> | undefined;
  check(matches(deployment.spec.selector?.matchLabels, podLabels), 'the Deployment selector matches its pod labels');
  check(podLabels?.['app.kubernetes.io/name'] === name, 'pods are labelled app.kubernetes.io/name=' + name);
  check(deployment.spec.replicas === undefined, 'no Deployment replicas: the HorizontalPodAutoscaler owns the count');
  check(pod.spec.enableServiceLinks === false, 'enableServiceLinks: false (service links inject <SERVICE>_PORT, the names of the services\' own port variables)');
  check(pod.spec.automountServiceAccountToken === false, 'no service account token (the services do not call the Kubernetes API)');
  check(pod.spec.securityContext?.runAsNonRoot === true, 'pod runs as non-root');
  check(pod.spec.containers.length === 1, 'one container');
  const container = pod.spec.containers[0];
  check(container.image === IMAGE && kustomization.images.some((i) => i.name === IMAGE), `image ${IMAGE}, set by kustomization images`);
  check(JSON.stringify(container.command) === JSON.stringify(['node', 'dist/scripts/service.js', name]), 'runs the compiled JavaScript: node dist/scripts/service.js ' + name);
  const sc = container.securityContext ?? {};
  check(sc.readOnlyRootFilesystem === true && sc.allowPrivilegeEscalation === false && sc.runAsNonRoot === true, 'container: read-only root filesystem, no privilege escalation, non-root');
  check(JSON.stringify(sc.capabilities?.drop) === JSON.stringify(['ALL']), 'container drops all capabilities');
  for (const kind of ['requests', 'limits']) for (const resource of ['cpu', 'memory']) check(!!container.resources?.[kind]?.[resource], `resources.${kind}.${resource}`);

  // Ports: the service's own and its metrics port, as in lib/runtime/services.ts, in the container, its variables and the Service.
  const containerPort = (portName: string) => container.ports?.find((p: { name: string }) => p.name === portName)?.containerPort;
  check(containerPort('http') === service.defaultPort, `container port http = ${service.defaultPort}`);
  check(containerPort('metrics') === service.defaultMetricsPort, `container port metrics = ${service.defaultMetricsPort}`);
  const servicePort = (portName: string) => svc.spec.ports?.find((p: { name: string }) => p.name === portName);
  check(servicePort('http')?.port === service.defaultPort && servicePort('http')?.targetPort === 'http', `Service port http ${service.defaultPort} → http`);
  check(servicePort('metrics')?.port === service.defaultMetricsPort && servicePort('metrics')?.targetPort === 'metrics', `Service port metrics ${service.defaultMetricsPort} → metrics`);
  check(JSON.stringify(svc.spec.selector) === JSON.stringify(deployment.spec.selector.matchLabels), 'the Service selects the Deployment\'s pods');

  // Environment: only variables the code reads; values consistent with the ports, keys and peers.
  const env = new Map<string, { value?: string; valueFrom?: any }>((container.env ?? []).map((e: { name: string }) => [e.name, e]));
  check(env.size === (container.env ?? []).length, 'no variable set twice');
  const known = knownVariables(service);
  const unknown = [...env.keys()].filter((variable) => !known.has(variable));
  check(unknown.length === 0, `only variables the code reads (unknown: ${unknown.join(', ')})`);
  check(container.envFrom === undefined, 'no envFrom: every variable is named');
  const value = (variable: string) => env.get(variable)?.value;
  check(value('NODE_ENV') === 'production' && value('HOST') === '0.0.0.0', 'NODE_ENV=production, HOST=0.0.0.0');
  check(value('NODE_OPTIONS') === NODE_HEAP_OPTIONS, `NODE_OPTIONS=${NODE_HEAP_OPTIONS} (the image's heap cap)`);
  check(value(`${service.envPrefix}_PORT`) === String(service.defaultPort), `${service.envPrefix}_PORT=${service.defaultPort}`);
  check(value(`${service.envPrefix}_METRICS_PORT`) === String(service.defaultMetricsPort), `${service.envPrefix}_METRICS_PORT=${service.defaultMetricsPort}`);
  for (const [variable, { valueFrom }] of env) {
    if (!valueFrom) continue;
    const ref = valueFrom.secretKeyRef ?? valueFrom.configMapKeyRef;
    const source = ref && byName(valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap', ref.name);
    check(!!source && ref.key in { ...source.data, ...source.stringData }, `${variable} comes from an existing key (${ref?.name}/${ref?.key})`);
  }

  // Key files: each one inside a mounted volume, from the right Secret or ConfigMap key.
  const mountedFile = (variable: string): { kind: string; name: string; key: string } | undefined => {
    const file = value(variable);
    if (!file) return undefined;
    const mount = container.volumeMounts?.find((m: { mountPath: string }) => path.posix.dirname(file) === m.mountPath);
    const volume = mount && pod.spec.volumes?.find((v: { name: string }) => v.name === mount.name);
    if (!volume) return undefined;
    return volume.secret ? { kind: 'Secret', name: volume.secret.secretName, key: path.posix.basename(file) } : volume.configMap ? { kind: 'ConfigMap', name: volume.configMap.name, key: path.posix.basename(file) } : undefined;
  };
  const privateKey = mountedFile('INTERNAL_TOKEN_PRIVATE_KEY_FILE');
  check(privateKey?.kind === 'Secret' && privateKey.name === `${name}-internal-token`, `INTERNAL_TOKEN_PRIVATE_KEY_FILE is in its own Secret ${name}-internal-token`);
  const publicKeys = mountedFile('INTERNAL_TOKEN_PUBLIC_KEYS_FILE');
  check(publicKeys?.kind === 'ConfigMap' && publicKeys.name === 'internal-public-keys', 'INTERNAL_TOKEN_PUBLIC_KEYS_FILE is in the internal-public-keys ConfigMap');
  for (const ref of [privateKey, publicKeys]) {
    const source = ref && byName(ref.kind, ref.name);
    check(!!source && ref!.key in { ...source.data, ...source.stringData }, `${ref?.kind} ${ref?.name} has the key ${ref?.key}`);
  }
  const mounts = container.volumeMounts ?? [];
  // Written: /tmp, and the gateway's Bulk Data export files (EXPORT_STORAGE_DIR).
  const writable = ['/tmp', ...(name === 'gateway' ? [value('EXPORT_STORAGE_DIR')] : [])];
  check(mounts.every((m: { readOnly?: boolean; mountPath: string }) => m.readOnly === true || writable.includes(m.mountPath)), 'key volumes are mounted read-only');

  // Service URLs: where a Service of that name exposes that port.
  const urls = [...env.keys()].filter((variable) => variable.endsWith('_URL') && !variable.endsWith('DATABASE_URL') && !variable.startsWith('AUTH_') && variable !== 'REPLAY_GUARD_REDIS_URL');
  const expectedUrls = name === 'gateway' ? SUBGRAPH_NAMES : SUBGRAPH_PEERS[name as SubgraphName];
  check(JSON.stringify(urls.sort()) === JSON.stringify(expectedUrls.map((n) => `${SUBGRAPHS[n].envPrefix}_URL`).sort()), `the URLs of ${expectedUrls.join(', ')}`);
  for (const peer of expectedUrls) {
    const url = value(`${SUBGRAPHS[peer].envPrefix}_URL`);
    check(url === `http://${peer}:${SUBGRAPHS[peer].defaultPort}/graphql`, `${SUBGRAPHS[peer].envPrefix}_URL is http://${peer}:${SUBGRAPHS[peer].defaultPort}/graphql (got ${url})`);
  }

  if (name !== 'gateway') {
    const database = env.get(`${service.envPrefix}_DATABASE_URL`)?.valueFrom?.secretKeyRef;
    check(database?.name === `${name}-database` && database?.key === 'url', `${service.envPrefix}_DATABASE_URL from its own Secret ${name}-database (key url)`);
    // Replicas (the HPA runs several) share one replay guard of internal tokens.
    const guard = env.get('REPLAY_GUARD_REDIS_URL')?.valueFrom?.secretKeyRef;
    check(guard?.name === 'replay-guard-redis' && guard?.key === 'url', 'REPLAY_GUARD_REDIS_URL from the Secret replay-guard-redis (key url)');
  } else {
    for (const variable of ['AUTH_ISSUER', 'AUTH_AUDIENCE']) check(env.has(variable), variable);
    check(env.has('AUTH_JWKS_URL') || env.has('AUTH_PUBLIC_KEYS_FILE'), 'AUTH_JWKS_URL or AUTH_PUBLIC_KEYS_FILE');
    // The Bulk Data export: its job store from a Secret of its own (no subgraph's database), its files on a claim
    // every replica can mount (the HPA runs several; a download may reach any of them).
    const store = env.get('EXPORT_DATABASE_URL')?.valueFrom?.secretKeyRef;
    check(store?.name === 'bulk-export-store' && store?.key === 'url', 'EXPORT_DATABASE_URL from the Secret bulk-export-store (key url)');
    const filesMount = mounts.find((m: { mountPath: string }) => m.mountPath === value('EXPORT_STORAGE_DIR'));
    const claimName = filesMount && pod.spec.volumes?.find((v: { name: string }) => v.name === filesMount.name)?.persistentVolumeClaim?.claimName;
    const claim = claimName && byName('PersistentVolumeClaim', claimName);
    check(!!claim && (claim.spec.accessModes ?? []).includes('ReadWriteMany'), 'EXPORT_STORAGE_DIR is a mounted PersistentVolumeClaim, ReadWriteMany');
  }

  // Probes on the service port: alive = /health, ready = /ready; the gateway is ready once it serves (/health), since
  // its /ready also fails while any subgraph is not ready, which would take every gateway pod out at once.
  const probe = (kind: string) => container[kind]?.httpGet as { path?: string; port?: number | string } | undefined;
  const onServicePort = (port: number | string | undefined) => port === 'http' || port === service.defaultPort;
  const readyPath = service === GATEWAY ? '/health' : '/ready';
  check(probe('livenessProbe')?.path === '/health' && onServicePort(probe('livenessProbe')?.port), 'liveness probe GET /health on the service port');
  check(probe('readinessProbe')?.path === readyPath && onServicePort(probe('readinessProbe')?.port), `readiness probe GET ${readyPath} on the service port`);
  check(!container.startupProbe || (probe('startupProbe')?.path === '/health' && onServicePort(probe('startupProbe')?.port)), 'startup probe GET /health on the service port');

  // Graceful shutdown: the grace period covers the preStop pause and the drain.
  const drainMs = Number(value('SHUTDOWN_GRACE_MS') ?? 20_000);
  const preStopSeconds = Number(container.lifecycle?.preStop?.sleep?.seconds ?? 0);
  const grace = Number(pod.spec.terminationGracePeriodSeconds ?? 30);
  check(grace * 1000 > drainMs + preStopSeconds * 1000, `terminationGracePeriodSeconds (${grace}) above the preStop pause (${preStopSeconds} s) plus SHUTDOWN_GRACE_MS (${drainMs})`);
  check(deployment.spec.strategy?.rollingUpdate?.maxUnavailable === 0, 'rolling updates keep every ready pod until its replacement is ready');

  // Autoscaling and disruptions.
  check(hpa.apiVersion === 'autoscaling/v2', 'HorizontalPodAutoscaler autoscaling/v2');
  check(hpa.spec.scaleTargetRef?.kind === 'Deployment' && hpa.spec.scaleTargetRef?.name === name, 'the HorizontalPodAutoscaler scales the Deployment');
  check(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas >= hpa.spec.minReplicas, 'at least 2 replicas');
  check(matches(pdb.spec.selector?.matchLabels, podLabels), 'the PodDisruptionBudget selects the pods');
  check(pdb.spec.maxUnavailable === 1 || (typeof pdb.spec.minAvailable === 'number' && pdb.spec.minAvailable < hpa.spec.minReplicas), 'the PodDisruptionBudget lets a drain proceed, one pod at a time');

  // Network: who reaches the service port and the metrics port.
  check(matches(policy.spec.podSelector?.matchLabels, podLabels), 'the NetworkPolicy selects the pods');
  check((policy.spec.policyTypes ?? []).includes('Ingress'), 'the NetworkPolicy restricts ingress');
  const callers = expectedCallers(name);
  const reachService = allowedSources(policy, service.defaultPort, 'http');
  const expected = callers === 'anywhere' ? 'anywhere' : callers.map((c) => `app:${c}`);
  check(JSON.stringify(reachService) === JSON.stringify(expected), `port ${service.defaultPort} reachable from ${JSON.stringify(expected)} (got ${JSON.stringify(reachService)})`);
  const reachMetrics = allowedSources(policy, service.defaultMetricsPort, 'metrics');
  check(JSON.stringify(reachMetrics) === JSON.stringify(['namespace:monitoring']), `metrics port reachable only from the monitoring namespace (got ${JSON.stringify(reachMetrics)})`);
  return problems;
}

/** The database Secrets: one per subgraph, each used by that subgraph only. */
function databaseSecretProblems(objects: Located[]): string[] {
  const problems: string[] = [];
  const secrets = objects.filter((o) => o.object.kind === 'Secret' && o.object.metadata.name.endsWith('-database')).map((o) => o.object.metadata.name).sort();
  if (JSON.stringify(secrets) !== JSON.stringify(SUBGRAPH_NAMES.map((n) => `${n}-database`).sort())) problems.push(`one database Secret per subgraph (got ${secrets.join(', ')})`);
  for (const { object } of objects.filter((o) => o.object.kind === 'Deployment')) {
    const refs = JSON.stringify(object).match(/"name":"[a-z-]+-database"/g) ?? [];
    const expected = object.metadata.name === 'gateway' ? [] : [`"name":"${object.metadata.name}-database"`];
    if (JSON.stringify(refs) !== JSON.stringify(expected)) problems.push(`${object.metadata.name} uses the database Secrets ${refs.join(', ') || 'none'}`);
  }
  return problems;
}

describe('deploy/kubernetes', () => {
  const manifests = readdirSync(DIR).filter((file) => /\.ya?ml$/.test(file) && file !== 'kustomization.yaml').sort();
  const loaded = kustomization.resources.map(loadManifest);
  const written = loaded.flatMap((l) => l.objects);
  const generated = generatedObjects(kustomization);
  const all = [...written, ...generated];

  it('lists every manifest in kustomization.yaml, and nothing else', () => {
    expect([...kustomization.resources].sort()).toEqual(manifests);
    expect(kustomization.resources.every((file) => existsSync(path.join(DIR, file)))).toBe(true);
  });

  it('parses every manifest, the same as YAML 1.1 and 1.2', () => {
    expect(loaded.flatMap((l) => l.problems)).toEqual([]);
    // The namespace, five objects per service, and the Bulk Data export's files claim.
    expect(written.length).toBe(1 + SERVICES.length * 5 + 1);
  });

  it('validates every object, written and generated, against the Kubernetes schemas', async () => {
    expect(await schemaProblems(all)).toEqual([]);
  });

  it('uses no field the Kubernetes API does not know', () => {
    expect(unknownFieldProblems(all)).toEqual([]);
  });

  it.each(SERVICES.map((s) => [s.name, s] as const))('deploys %s as the code expects', (_name, service) => {
    expect(serviceProblems(service, all)).toEqual([]);
  });

  it('gives each subgraph its own PostgreSQL database URL Secret', () => {
    expect(databaseSecretProblems(all)).toEqual([]);
  });

  it('gives each service its own private key Secret, and every service the public keys of all six', () => {
    const tokens = generated.filter((o) => o.object.kind === 'Secret' && o.object.metadata.name.endsWith('-internal-token')).map((o) => o.object.metadata.name);
    expect(tokens.sort()).toEqual(SERVICES.map((s) => `${s.name}-internal-token`).sort());
    // The files `npm run keys:internal -- deploy/kubernetes/secrets` writes.
    const files = [...kustomization.secretGenerator, ...kustomization.configMapGenerator].flatMap((g) => g.files ?? []).map((f) => f.split('=').at(-1)).sort();
    expect(files).toEqual(['secrets/internal-public-keys.json', ...SERVICES.map((s) => `secrets/${s.name}.private.jwk.json`)].sort());
  });

  it('runs in a namespace that enforces the restricted Pod Security Standard', () => {
    const namespace = written.find((o) => o.object.kind === 'Namespace')!.object;
    expect(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect((kustomization as unknown as { namespace: string }).namespace).toBe(namespace.metadata.name);
  });

  describe('fails on a broken manifest', () => {
    /** Every manifest, with the Deployment `name` changed by `change`. */
    const brokenDeployment = (name: string) => (change: (deployment: any) => void): Located[] => {
      const deployment = written.find((o) => o.object.kind === 'Deployment' && o.object.metadata.name === name)!;
      const copy = structuredClone(deployment);
      change(copy.object);
      return [...all.filter((o) => o !== deployment), copy];
    };
    const broken = brokenDeployment('labs');
    const brokenGateway = brokenDeployment('gateway');

    it('a value of the wrong type or a missing required field', async () => {
      expect(await schemaProblems(broken((d) => (d.spec.template.spec.containers[0].ports[0].containerPort = 'http')))).not.toEqual([]);
      expect(await schemaProblems(broken((d) => delete d.spec.template.spec.containers[0].livenessProbe.httpGet.port))).not.toEqual([]);
      expect(await schemaProblems([{ source: 'x', object: { apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'x' } } }])).not.toEqual([]);
    });

    it('a misspelt field', () => {
      const problems = unknownFieldProblems(broken((d) => (d.spec.template.spec.containers[0].readinesProbe = d.spec.template.spec.containers[0].readinessProbe)));
      expect(problems.join('\n')).toContain("'\"readinesProbe\"' does not exist");
    });

    it('a probe on the wrong path, a port or variable the code does not know, a database shared', () => {
      const service = SUBGRAPHS.labs;
      expect(serviceProblems(service, broken((d) => (d.spec.template.spec.containers[0].readinessProbe.httpGet.path = '/health')))).not.toEqual([]);
      expect(serviceProblems(GATEWAY, brokenGateway((d) => (d.spec.template.spec.containers[0].readinessProbe.httpGet.path = '/ready')))).not.toEqual([]);
      expect(serviceProblems(service, broken((d) => (d.spec.template.spec.containers[0].ports[0].containerPort = 4010)))).not.toEqual([]);
      expect(serviceProblems(service, broken((d) => d.spec.template.spec.containers[0].env.push({ name: 'LABS_DB_URL', value: 'x' })))).not.toEqual([]);
      expect(databaseSecretProblems(broken((d) => (d.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'LABS_DATABASE_URL').valueFrom.secretKeyRef.name = 'identity-database')))).not.toEqual([]);
    });

    it('a gateway without the Bulk Data export\'s store or shared files volume', () => {
      expect(serviceProblems(GATEWAY, all)).toEqual([]);
      const env = (d: any) => d.spec.template.spec.containers[0].env as { name: string; valueFrom?: any }[];
      expect(serviceProblems(GATEWAY, brokenGateway((d) => (env(d).find((e) => e.name === 'EXPORT_DATABASE_URL')!.valueFrom.secretKeyRef.name = 'identity-database')))).not.toEqual([]);
      expect(serviceProblems(GATEWAY, brokenGateway((d) => (d.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'bulk-export-files').persistentVolumeClaim.claimName = 'nothing')))).not.toEqual([]);
      const claim = all.find((o) => o.object.kind === 'PersistentVolumeClaim')!;
      const readWriteOnce = structuredClone(claim);
      readWriteOnce.object.spec.accessModes = ['ReadWriteOnce'];
      expect(serviceProblems(GATEWAY, [...all.filter((o) => o !== claim), readWriteOnce])).not.toEqual([]);
    });

    it('a NetworkPolicy that lets in a subgraph SUBGRAPH_PEERS does not name, or opens the metrics port', () => {
      const policy = all.find((o) => o.object.kind === 'NetworkPolicy' && o.object.metadata.name === 'labs')!;
      const withPolicy = (change: (p: any) => void) => {
        const copy = structuredClone(policy);
        change(copy.object);
        return [...all.filter((o) => o !== policy), copy];
      };
      expect(serviceProblems(SUBGRAPHS.labs, withPolicy((p) => p.spec.ingress[0].from.push({ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'imaging' } } })))).not.toEqual([]);
      expect(serviceProblems(SUBGRAPHS.labs, withPolicy((p) => delete p.spec.ingress[1].ports))).not.toEqual([]);
      expect(serviceProblems(SUBGRAPHS.labs, withPolicy((p) => delete p.spec.ingress[0].from))).not.toEqual([]);
    });
  });

  // Where kubectl is installed, kustomize itself renders the base (with
  // placeholder keys and database URLs), and every object it renders is valid.
  const kubectl = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find(existsSync);
  describe.runIf(kubectl)('kubectl kustomize', () => {
    let rendered: Located[] = [];
    beforeAll(() => {
      const copy = mkdtempSync(path.join(os.tmpdir(), 'fpr-kustomize-'));
      try {
        cpSync(DIR, copy, { recursive: true, filter: (source) => !source.includes(`${path.sep}secrets`) });
        mkdirSync(path.join(copy, 'secrets'));
        for (const s of SERVICES) writeFileSync(path.join(copy, 'secrets', `${s.name}.private.jwk.json`), '{"kty":"OKP","crv":"Ed25519"}');
        writeFileSync(path.join(copy, 'secrets', 'internal-public-keys.json'), '{}');
        for (const n of SUBGRAPH_NAMES) writeFileSync(path.join(copy, 'secrets', `${n}-database.env`), `url=postgres://fpr:secret@${n}-db:5432/${n}\n`);
        writeFileSync(path.join(copy, 'secrets', 'replay-guard-redis.env'), 'url=rediss://:secret@redis.example.org:6380\n');
        writeFileSync(path.join(copy, 'secrets', 'bulk-export-store.env'), 'url=postgres://fpr:secret@gateway-db:5432/gateway_export\n');
        const output = execFileSync(kubectl!, ['kustomize', copy], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        rendered = parseAllDocuments(output).map((d, i) => {
          const object = d.toJS() as K8sObject;
          // kustomize wraps long base64 values over lines, which the API server's decoder skips.
          if (object.kind === 'Secret') for (const key of Object.keys(object.data ?? {})) object.data![key] = object.data![key]!.replace(/\n/g, '');
          return { source: `rendered#${i} ${object.kind}/${object.metadata.name}`, object };
        });
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }
    });

    it('renders every object, each valid, in the namespace, with generated names resolved', async () => {
      expect(rendered.length).toBe(written.length + generated.length);
      expect(await schemaProblems(rendered)).toEqual([]);
      expect(unknownFieldProblems(rendered)).toEqual([]);
      for (const { object } of rendered.filter((o) => o.object.kind !== 'Namespace')) expect((object.metadata as { namespace?: string }).namespace).toBe('patient-record');
      const names = new Set(rendered.map((o) => o.object.metadata.name));
      for (const { object } of rendered.filter((o) => o.object.kind === 'Deployment')) {
        const pod = object.spec.template.spec;
        expect(pod.containers[0].image).toMatch(/federated-patient-record:/);
        for (const volume of pod.volumes) expect(names.has(volume.secret?.secretName ?? volume.configMap?.name ?? volume.persistentVolumeClaim?.claimName ?? 'tmp') || volume.emptyDir).toBeTruthy();
        for (const e of pod.containers[0].env) if (e.valueFrom) expect(names.has((e.valueFrom.secretKeyRef ?? e.valueFrom.configMapKeyRef).name)).toBe(true);
      }
    });
  });
});
