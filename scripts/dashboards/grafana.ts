/**
 * A small typed model of the Grafana dashboard JSON (schemaVersion 39) this
 * project needs, and builders that fill in Grafana's defaults, so the
 * dashboards read as a list of panels and queries. Each builder's output is
 * checked (`satisfies`) against the types of Grafana's own
 * @grafana/grafana-foundation-sdk for the Grafana version the dashboards
 * target (10.4, schemaVersion 39; the devDependency is pinned to it), and
 * test/dashboards-types.test.ts type-checks these files.
 */
import type * as sdk from '@grafana/grafana-foundation-sdk/dashboard';
import type * as heatmapSdk from '@grafana/grafana-foundation-sdk/heatmap';
import type * as prometheusSdk from '@grafana/grafana-foundation-sdk/prometheus';
import type * as statSdk from '@grafana/grafana-foundation-sdk/stat';
import type * as tableSdk from '@grafana/grafana-foundation-sdk/table';
import type * as textSdk from '@grafana/grafana-foundation-sdk/text';
import type * as timeseriesSdk from '@grafana/grafana-foundation-sdk/timeseries';

/** The JSON form of an SDK type: its enums as the literal values Grafana stores, arrays and objects alike. */
export type Wire<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends readonly (infer U)[]
      ? Wire<U>[]
      : { [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]: Wire<T[K]> };

/** A template variable as the SDK types it; `current` may be empty (Grafana fills it in), `definition` is the query editor's text. */
type SdkVariable = Omit<Wire<sdk.VariableModel>, 'current'> & { current: Wire<sdk.VariableOption> | Record<string, never>; definition?: string };

/** A panel as the SDK types it, with Prometheus queries. */
export type SdkPanel = Wire<Omit<sdk.Panel, 'targets'>> & { targets?: Wire<prometheusSdk.dataquery>[] };
/** A dashboard as the SDK types it, its rows holding such panels. */
export type SdkDashboard = Omit<Wire<sdk.Dashboard>, 'panels'> & {
  panels?: (SdkPanel | (Omit<Wire<sdk.RowPanel>, 'panels'> & { panels: SdkPanel[] }))[];
};

export const SCHEMA_VERSION = 39;

/** Every panel and query uses the dashboard's `datasource` variable (never a ${DS_...} input). */
export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;

export interface Target {
  refId: string;
  datasource: typeof DATASOURCE;
  expr: string;
  legendFormat: string;
  range: boolean;
  instant: boolean;
  format: 'time_series' | 'table' | 'heatmap';
  editorMode: 'code';
}

export interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Panel {
  id: number;
  type: 'timeseries' | 'stat' | 'table' | 'heatmap' | 'text' | 'row';
  title: string;
  description?: string;
  gridPos: GridPos;
  datasource?: typeof DATASOURCE;
  targets?: Target[];
  fieldConfig?: Wire<sdk.FieldConfigSource>;
  options?: Record<string, unknown>;
  transformations?: Wire<sdk.DataTransformerConfig>[];
  collapsed?: boolean;
  panels?: Panel[];
}

export interface Variable {
  name: string;
  label: string;
  type: 'datasource' | 'query';
  hide: 0 | 1 | 2;
  [key: string]: unknown;
}

export interface Dashboard {
  id: null;
  uid: string;
  title: string;
  description: string;
  tags: string[];
  timezone: string;
  editable: boolean;
  graphTooltip: 1;
  schemaVersion: number;
  version: number;
  time: { from: string; to: string };
  refresh: string;
  fiscalYearStartMonth: number;
  liveNow: false;
  weekStart: string;
  links: Wire<sdk.DashboardLink>[];
  annotations: { list: unknown[] };
  templating: { list: Variable[] };
  panels: Panel[];
}

/** A query of a panel: PromQL and the legend (refIds are assigned A, B, C...). */
export interface Query {
  expr: string;
  legend?: string;
  /** Instant query (tables, top-N); default: range. */
  instant?: boolean;
  format?: Target['format'];
}

function targets(queries: readonly Query[]): Target[] {
  return queries.map((q, index) => ({
    refId: String.fromCharCode(65 + index),
    datasource: DATASOURCE,
    expr: q.expr,
    legendFormat: q.legend ?? '__auto',
    range: !q.instant,
    instant: q.instant ?? false,
    format: q.format ?? (q.instant ? 'table' : 'time_series'),
    editorMode: 'code',
  })) satisfies Wire<prometheusSdk.dataquery>[];
}

/** Size of a panel; the layout places it. */
export interface Size {
  w: number;
  h: number;
}

type PanelDraft = Omit<Panel, 'id' | 'gridPos'> & { size: Size };

export interface ThresholdStep {
  color: string;
  value: number | null;
}

/** The head every panel with queries shares; the builders add their field config and options after it. */
function queryPanel(type: Panel['type'], title: string, description: string, size: Size, queries: readonly Query[]): PanelDraft {
  return { type, title, description, size, datasource: DATASOURCE, targets: targets(queries) };
}

/** A green, orange, red scale: orange from `warn`, red from `bad`. */
export function trafficLight(warn: number, bad: number): ThresholdStep[] {
  return [
    { color: 'green', value: null },
    { color: 'orange', value: warn },
    { color: 'red', value: bad },
  ];
}

/** A timeseries threshold that paints only what lies above `value` red. */
export function redAbove(value: number): ThresholdStep[] {
  return [
    { color: 'transparent', value: null },
    { color: 'red', value },
  ];
}

const thresholds = (steps: readonly ThresholdStep[] = [{ color: 'green', value: null }]): Wire<sdk.ThresholdsConfig> => ({
  mode: 'absolute',
  steps: [...steps],
});

export function timeseries(
  title: string,
  description: string,
  queries: readonly Query[],
  options: { unit: string; size?: Size; stack?: boolean; log?: boolean; max?: number; thresholdLine?: ThresholdStep[] },
): PanelDraft {
  const custom: Wire<timeseriesSdk.FieldConfig> = {
    drawStyle: 'line',
    lineWidth: 1,
    fillOpacity: options.stack ? 60 : 10,
    showPoints: 'never',
    spanNulls: false,
    stacking: { mode: options.stack ? 'normal' : 'none', group: 'A' },
    axisSoftMin: 0,
    thresholdsStyle: { mode: options.thresholdLine ? 'line+area' : 'off' },
  };
  if (options.log) custom.scaleDistribution = { type: 'log', log: 10 };
  const defaults: Wire<sdk.FieldConfig> = {
    unit: options.unit,
    color: { mode: 'palette-classic' },
    custom,
    thresholds: thresholds(options.thresholdLine),
  };
  if (options.max !== undefined) defaults.max = options.max;
  return {
    ...queryPanel('timeseries', title, description, options.size ?? { w: 12, h: 8 }, queries),
    fieldConfig: { defaults, overrides: [] },
    options: {
      legend: { displayMode: 'table', placement: 'right', showLegend: true, calcs: ['mean', 'max', 'lastNotNull'], sortBy: 'Max', sortDesc: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    } satisfies Wire<timeseriesSdk.Options>,
  };
}

export function stat(
  title: string,
  description: string,
  query: Query,
  options: { unit: string; size?: Size; thresholds?: ThresholdStep[]; decimals?: number },
): PanelDraft {
  const defaults: Wire<sdk.FieldConfig> = {
    unit: options.unit,
    color: { mode: 'thresholds' },
    thresholds: thresholds(options.thresholds),
  };
  if (options.decimals !== undefined) defaults.decimals = options.decimals;
  return {
    ...queryPanel('stat', title, description, options.size ?? { w: 4, h: 4 }, [query]),
    fieldConfig: { defaults, overrides: [] },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'area',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'auto',
      wideLayout: true,
      showPercentChange: false,
    } satisfies Wire<statSdk.Options>,
  };
}

export function table(
  title: string,
  description: string,
  query: Query,
  options: { size?: Size; columns: readonly string[]; valueName: string; unit?: string; links?: Record<string, string> },
): PanelDraft {
  const indexByName = Object.fromEntries([...options.columns, 'Value'].map((name, index) => [name, index]));
  const overrides = Object.entries(options.links ?? {}).map(([field, url]) => ({
    matcher: { id: 'byName', options: field },
    properties: [{ id: 'links', value: [{ title: `Drill down into ${field} \${__value.raw}`, url }] }],
  }));
  return {
    ...queryPanel('table', title, description, options.size ?? { w: 12, h: 10 }, [{ ...query, instant: true, format: 'table' }]),
    fieldConfig: {
      defaults: {
        unit: options.unit ?? 'short',
        decimals: 0,
        custom: { align: 'auto' } satisfies Partial<Wire<tableSdk.FieldConfig>>,
        thresholds: thresholds(),
      },
      overrides,
    },
    options: { frameIndex: 0, showHeader: true, cellHeight: 'sm', sortBy: [{ displayName: options.valueName, desc: true }] } satisfies Wire<tableSdk.Options>,
    transformations: [{ id: 'organize', options: { excludeByName: { Time: true }, indexByName, renameByName: { Value: options.valueName } } }],
  };
}

export function heatmap(title: string, description: string, query: Query, options: { size?: Size }): PanelDraft {
  return {
    ...queryPanel('heatmap', title, description, options.size ?? { w: 12, h: 8 }, [{ ...query, format: 'heatmap', legend: '{{le}}' }]),
    fieldConfig: { defaults: { custom: { scaleDistribution: { type: 'linear' } } satisfies Wire<heatmapSdk.FieldConfig> }, overrides: [] },
    options: {
      calculate: false,
      cellGap: 1,
      color: { mode: 'scheme', scheme: 'Oranges', scale: 'exponential', exponent: 0.5, fill: 'dark-orange', steps: 64, reverse: false },
      yAxis: { axisPlacement: 'left', unit: 's' },
      rowsFrame: { layout: 'auto' },
      cellValues: { unit: 'short' },
      tooltip: { mode: 'single', yHistogram: true, showColorScale: false },
      legend: { show: true },
      exemplars: { color: 'rgba(255,0,255,0.7)' },
      filterValues: { le: 1e-9 },
      showValue: 'auto',
    } satisfies Wire<heatmapSdk.Options>,
  };
}

export function text(title: string, description: string, content: string, options: { size?: Size }): PanelDraft {
  return {
    type: 'text',
    title,
    description,
    size: options.size ?? { w: 12, h: 10 },
    options: { mode: 'markdown', content, code: { language: 'plaintext', showLineNumbers: false, showMiniMap: false } } satisfies Wire<textSdk.Options>,
  };
}

export function row(title: string): PanelDraft {
  return { type: 'row', title, size: { w: 24, h: 1 }, collapsed: false, panels: [] };
}

/** Places panels left to right in rows of 24 columns and numbers them 1, 2, 3... */
export function layOut(drafts: readonly PanelDraft[]): Panel[] {
  const panels: Panel[] = [];
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  drafts.forEach((draft, index) => {
    const { size, ...rest } = draft;
    if (x + size.w > 24 || draft.type === 'row') {
      y += rowHeight;
      x = 0;
      rowHeight = 0;
    }
    panels.push({ id: index + 1, gridPos: { x, y, w: size.w, h: size.h }, ...rest });
    x += size.w;
    rowHeight = Math.max(rowHeight, size.h);
    if (draft.type === 'row') {
      y += size.h;
      x = 0;
      rowHeight = 0;
    }
  });
  return panels;
}

/** A link in the dashboard's header to another dashboard; `url` carries whatever variables it keeps. */
export function dashboardLink(title: string, url: string, tooltip: string): Wire<sdk.DashboardLink> {
  return { type: 'link', title, icon: 'dashboard', url, targetBlank: false, keepTime: false, includeVars: false, asDropdown: false, tags: [], tooltip };
}

export function datasourceVariable(): Variable {
  return {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    hide: 0,
    refresh: 1,
    regex: '',
    includeAll: false,
    multi: false,
    current: {},
    options: [],
  } satisfies SdkVariable;
}

/** A query variable filled by label_values(); `All` matches every value. */
export function labelValuesVariable(
  name: string,
  label: string,
  query: string,
  options: { multi?: boolean; hide?: 0 | 2; sort?: 'alphabetical' | 'numerical'; allValue?: string } = {},
): Variable {
  return {
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    query: { query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    definition: query,
    hide: options.hide ?? 0,
    refresh: 2,
    regex: '',
    // Grafana's codes: 1 alphabetical ascending, 3 numerical ascending.
    sort: options.sort === 'numerical' ? 3 : 1,
    includeAll: true,
    allValue: options.allValue ?? '.+',
    multi: options.multi ?? true,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
  } satisfies SdkVariable;
}

export interface DashboardFields {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  links: Wire<sdk.DashboardLink>[];
  variables: Variable[];
  panels: readonly PanelDraft[];
}

export function dashboard(fields: DashboardFields): Dashboard {
  return {
    id: null,
    uid: fields.uid,
    title: fields.title,
    description: fields.description,
    tags: fields.tags,
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    refresh: '1m',
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    links: fields.links,
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    templating: { list: fields.variables },
    panels: layOut(fields.panels),
  } satisfies SdkDashboard;
}
