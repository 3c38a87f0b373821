// The API's answers, as the pydantic models in loglens.query and loglens.agent.answer define them
// (see README.md for the routes). Cells are JSON values; times are ISO 8601 strings.
export type Cell = string | number | boolean | null | Cell[] | { [key: string]: Cell };

export interface ErrorBody {
  error: string;
  code?: string;
  field?: string | null;
}

export interface Explanation {
  summary: string;
  key_insight: string;
  recommendation: string;
  baseline?: string | null;
}

export interface Attempt {
  tool: string;
  sql: string;
  ok: boolean;
  error?: string | null;
  elapsed_ms?: number | null;
  rows?: number | null;
}

export interface Performance {
  query_ms?: number | null;
  rows: number;
  row_limit_reached: boolean;
  partitions_scanned?: number | null;
  partitions_total?: number | null;
  indexes: string[];
}

export interface Answer {
  question: string;
  conversation_id?: string | null;
  sql?: string | null;
  columns: string[];
  rows: Cell[][];
  explanation: Explanation;
  performance: Performance;
  steps: number;
  attempts: Attempt[];
  model: string;
  latency_ms: number;
  complete: boolean;
}

export interface AskPending {
  id: string;
  status: 'running';
}

export interface HistogramBucket {
  start: string;
  count: number;
}

export interface Histogram {
  bucket: '1m' | '5m' | '1h' | '1d';
  since: string;
  until: string;
  buckets: HistogramBucket[];
  sql: string;
  elapsed_ms: number;
}

export interface SearchFilters {
  service?: string;
  level?: string[];
  environment?: string;
  since?: string;
  until?: string;
  contains?: string;
  trace_id?: string;
  user_id?: string;
  metadata?: Record<string, string>;
}

export interface SearchResult {
  columns: string[];
  rows: Cell[][];
  sql: string;
  elapsed_ms: number;
  cursor: string | null;
  limit_reached: boolean;
  since: string;
  until: string;
  histogram: Histogram | null;
}

export interface TailResult {
  columns: string[];
  rows: Cell[][];
  sql: string;
  elapsed_ms: number;
  cursor: string;
  limit_reached: boolean;
}

export interface SqlResult {
  columns: string[];
  rows: Cell[][];
  sql: string;
  elapsed_ms: number;
  limit_reached: boolean;
  note: string;
}

export interface SqlCheck {
  allowed: boolean;
  code: string;
  reason: string;
  sql: string | null;
}

export interface ValueCount {
  value: string;
  records: number;
}

/** GET /api/v1/facts: what the filters can choose from (loglens.query.facts.Facts). */
export interface Facts {
  services: ValueCount[];
  environments: ValueCount[];
  levels: ValueCount[];
  earliest: string | null;
  latest: string | null;
  hot_window_days: number;
}

export type SavedKind = 'question' | 'search' | 'sql';

export interface SavedItem {
  id: string;
  kind: SavedKind;
  name: string;
  body: { question?: string; filters?: SearchFilters; limit?: number; sql?: string };
  created_by: string;
  created_at: string;
}

export interface SharedAnswer {
  id: string;
  answer: Answer;
  created_by: string;
  created_at: string;
}

export const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
