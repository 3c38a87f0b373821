// Log records as a list: one line each (time, level, service, message), expanded with Enter or a click into
// every stored field, the metadata and the stack trace, with a link to the whole trace.
import { useState } from 'preact/hooks';
import { formatCell, formatTime } from '../format';
import { href } from '../router';
import type { Cell } from '../types';

const HEADLINE = new Set(['created_at', 'level', 'service', 'message']);
const LONG = new Set(['metadata', 'stack_trace']);

export function RecordList({ records, label }: { records: Record<string, Cell>[]; label: string }) {
  return (
    <ol class="records" aria-label={label}>
      {records.map((record, i) => (
        <RecordItem key={String(record.event_id ?? i)} record={record} index={i} />
      ))}
    </ol>
  );
}

function RecordItem({ record, index }: { record: Record<string, Cell>; index: number }) {
  const [open, setOpen] = useState(false);
  const id = `record-${String(record.event_id ?? index).replace(/[^A-Za-z0-9-]/g, '')}`;
  const level = String(record.level ?? '');
  const trace = typeof record.trace_id === 'string' ? record.trace_id : null;
  return (
    <li class={`record level-${level.toLowerCase()}`}>
      <button type="button" class="record-line" aria-expanded={open} aria-controls={id} onClick={() => setOpen(!open)}>
        <time dateTime={String(record.created_at ?? '')}>{formatTime(record.created_at)}</time>
        <span class="level">{level}</span>
        <span class="service">{formatCell(record.service)}</span>
        <span class="message">{formatCell(record.message)}</span>
      </button>
      {open ? (
        <div id={id} class="record-detail">
          <dl>
            {Object.entries(record)
              .filter(([key, value]) => value !== null && !LONG.has(key) && !HEADLINE.has(key))
              .map(([key, value]) => (
                <div key={key} class="field">
                  <dt>{key}</dt>
                  <dd>{formatCell(value)}</dd>
                </div>
              ))}
          </dl>
          <h4>message</h4>
          <pre class="wrap">{formatCell(record.message)}</pre>
          {record.metadata && typeof record.metadata === 'object' && Object.keys(record.metadata).length ? (
            <>
              <h4>metadata</h4>
              <pre>{JSON.stringify(record.metadata, null, 2)}</pre>
            </>
          ) : null}
          {record.stack_trace ? (
            <>
              <h4>stack trace</h4>
              <pre class="stack">{String(record.stack_trace)}</pre>
            </>
          ) : null}
          {trace ? (
            <p>
              <a href={href('search', { trace_id: trace, since: '7d' })}>Whole trace {trace}</a>
            </p>
          ) : null}
        </div>
      ) : null}
    </li>
  );
}
