// The monitoring that installs (daemonset/monitoring/): the PrometheusRule's alerts and the Grafana
// dashboard's queries parse as PromQL (Prometheus' own lezer grammar) and name only metrics, and labels,
// that the agent exports, so a renamed metric fails here instead of silently emptying a panel or an alert.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { createMetrics } from '../src/agent/metrics.js';
import { ROOT } from './support/paths.js';

const DIR = join(ROOT, 'daemonset', 'monitoring');

/** Labels Prometheus adds to every scraped series (the ServiceMonitor's target labels) and `le` of buckets. */
const TARGET_LABELS = new Set(['instance', 'job', 'namespace', 'pod', 'service', 'endpoint', 'container', 'node', 'le']);

interface Exported {
  /** Series name -> the labels the agent sets on it. */
  readonly series: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Every series name the agent's registry exposes, with `_bucket`, `_sum`, `_count` of histograms and summaries. */
async function exportedSeries(): Promise<Exported> {
  const series = new Map<string, Set<string>>();
  const { registry } = createMetrics();
  for (const metric of await registry.getMetricsAsJSON()) {
    const labels = new Set<string>();
    for (const value of metric.values as { labels: Record<string, unknown> }[]) for (const label of Object.keys(value.labels)) labels.add(label);
    // Labels declared but not yet set (no observation in a fresh registry) still belong to the metric.
    const declared = (registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    for (const label of declared) labels.add(label);
    const names = ['histogram', 'summary'].includes(String(metric.type)) ? [metric.name, `${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`] : [metric.name];
    for (const name of names) series.set(name, labels);
  }
  return { series };
}

/** What is wrong with one PromQL expression: syntax errors, unknown metrics, labels no metric of it has. */
function problems(expr: string, exported: Exported): string[] {
  const found: string[] = [];
  const tree = parser.parse(expr);
  const names: string[] = [];
  const labels: string[] = [];
  tree.iterate({
    enter(node) {
      const text = expr.slice(node.from, node.to);
      if (node.type.isError) found.push(`syntax error at ${node.from}: "${expr.slice(Math.max(0, node.from - 10), node.to + 10)}"`);
      if (node.name === 'VectorSelector') {
        const identifier = node.node.getChild('Identifier');
        if (identifier) names.push(expr.slice(identifier.from, identifier.to));
        else found.push(`selector without a metric name: ${text}`);
      }
      if (node.name === 'LabelName') labels.push(text);
    },
  });
  const known = new Set<string>(TARGET_LABELS);
  for (const name of names) {
    const series = exported.series.get(name);
    if (!series) found.push(`${name} is not a metric the agent exports`);
    else for (const label of series) known.add(label);
  }
  for (const label of labels) if (!known.has(label)) found.push(`label ${label} is on none of ${names.join(', ')}`);
  return found;
}

const rules = parseYaml(readFileSync(join(DIR, 'prometheusrule.yaml'), 'utf8')) as {
  apiVersion: string;
  kind: string;
  spec: { groups: { name: string; rules: { alert: string; expr: string; for?: string }[] }[] };
};
const dashboard = JSON.parse(readFileSync(join(DIR, 'grafana-dashboard.json'), 'utf8')) as {
  panels: { title: string; targets: { expr: string }[] }[];
  templating: { list: { name: string; definition?: string }[] };
};
const metricsDoc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');

let exported: Exported;
beforeAll(async () => {
  exported = await exportedSeries();
});

test('the checker itself: it accepts a good query and names each fault of a bad one', () => {
  expect(problems('sum by (mode) (rate(nftpol_sync_duration_seconds_count[5m]))', exported)).toEqual([]);
  expect(problems('rate(nftpol_denied_packets[5m])', exported)).toEqual(['nftpol_denied_packets is not a metric the agent exports']);
  expect(problems('sum by (mode) (nftpol_local_pods)', exported)).toEqual(['label mode is on none of nftpol_local_pods']);
  expect(problems('rate(nftpol_sync_failures_total[5m]', exported).join()).toMatch(/syntax error/);
  expect(problems('{__name__="nftpol_ready"}', exported).join()).toMatch(/without a metric name/);
});

test('the PrometheusRule holds the 8 alerts of docs/metrics.md, each valid PromQL over metrics the agent exports', () => {
  expect([rules.apiVersion, rules.kind]).toEqual(['monitoring.coreos.com/v1', 'PrometheusRule']);
  const alerts = rules.spec.groups.flatMap((g) => g.rules);
  expect(alerts).toHaveLength(8);
  for (const alert of alerts) {
    expect({ alert: alert.alert, problems: problems(alert.expr, exported) }).toEqual({ alert: alert.alert, problems: [] });
    expect(metricsDoc).toContain(`\`${alert.alert}\``);
    if (alert.for) expect(alert.for).toMatch(/^\d+[smh]$/);
  }
});

test('the Grafana dashboard has the 16 panels of docs/metrics.md, every query valid PromQL over metrics the agent exports', () => {
  expect(dashboard.panels).toHaveLength(16);
  for (const panel of dashboard.panels) {
    expect(panel.targets.length).toBeGreaterThan(0);
    for (const target of panel.targets) expect({ panel: panel.title, problems: problems(target.expr, exported) }).toEqual({ panel: panel.title, problems: [] });
    expect(metricsDoc).toContain(`| ${panel.title} |`);
  }
  // Variables are label_values(<selector>, <label>): the selector is a query like the others.
  for (const variable of dashboard.templating.list.filter((v) => v.definition)) {
    const match = /^label_values\((.+), *(\w+)\)$/.exec(variable.definition!);
    expect(match).not.toBeNull();
    expect(problems(match![1]!, exported)).toEqual([]);
  }
});

test('kubectl apply -k daemonset/monitoring/ installs the rule, the ServiceMonitor and the dashboard ConfigMap', () => {
  const kustomization = parseYaml(readFileSync(join(DIR, 'Kustomization'), 'utf8')) as { resources: string[]; configMapGenerator: { files: string[] }[] };
  expect(kustomization.resources.sort()).toEqual(['prometheusrule.yaml', 'servicemonitor.yaml']);
  expect(kustomization.configMapGenerator[0]!.files).toEqual(['grafana-dashboard.json']);
  const monitor = parseAllDocuments(readFileSync(join(DIR, 'servicemonitor.yaml'), 'utf8'))[0]!.toJS() as { spec: { endpoints: { port: string; honorLabels?: boolean }[] } };
  // The Service's port name (daemonset/service.yaml), and the deny counters' own namespace and pod labels kept.
  expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', honorLabels: true })]);
});
