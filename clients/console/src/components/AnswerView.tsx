// An agent's answer: the explanation, a chart from the result's shape, the rows, the SQL and the steps taken.
import { useState } from 'preact/hooks';
import { useApi } from '../context';
import { formatNumber } from '../format';
import { answerHref, href } from '../router';
import type { Answer } from '../types';
import { ResultChart } from './Chart';
import { ErrorNote, ResultTable, SaveButton, SqlBlock } from './Common';

export function AnswerView({ answer, shareable = true }: { answer: Answer; shareable?: boolean }) {
  const { explanation, performance } = answer;
  return (
    <article class="answer" aria-labelledby="answer-summary">
      <h2 id="answer-summary">{explanation.summary}</h2>
      {!answer.complete ? <p class="warning">The agent ran out of steps before it finished; this is its last result.</p> : null}
      {explanation.key_insight ? (
        <p>
          <strong>Key insight:</strong> {explanation.key_insight}
        </p>
      ) : null}
      {explanation.recommendation ? (
        <p>
          <strong>Recommendation:</strong> {explanation.recommendation}
        </p>
      ) : null}
      {explanation.baseline ? <p class="muted">Baseline: {explanation.baseline}</p> : null}
      <ResultChart columns={answer.columns} rows={answer.rows} />
      <ResultTable columns={answer.columns} rows={answer.rows} caption={`Result of: ${answer.question}`} />
      <p class="muted figures">
        {performance.rows.toLocaleString()} rows{performance.row_limit_reached ? '+' : ''}
        {performance.query_ms != null ? ` · query ${formatNumber(performance.query_ms)} ms` : ''}
        {performance.partitions_total ? ` · partitions ${performance.partitions_scanned}/${performance.partitions_total}` : ''}
        {` · ${answer.steps} steps · ${(answer.latency_ms / 1000).toFixed(1)} s`}
        {answer.model ? ` · ${answer.model}` : ''}
      </p>
      {answer.sql ? (
        <>
          <SqlBlock sql={answer.sql} />
          <p>
            <a href={href('sql', { sql: answer.sql })}>Open this SQL in the editor</a>
          </p>
        </>
      ) : null}
      <Steps answer={answer} />
      <div class="actions">
        <SaveButton kind="question" body={{ question: answer.question }} suggestion={answer.question} />
        {shareable ? <ShareButton answer={answer} /> : null}
      </div>
    </article>
  );
}

function Steps({ answer }: { answer: Answer }) {
  if (!answer.attempts.length) return null;
  return (
    <details class="steps">
      <summary>
        The agent's steps ({answer.attempts.length} {answer.attempts.length === 1 ? 'query' : 'queries'})
      </summary>
      <ol>
        {answer.attempts.map((attempt, i) => (
          <li key={i} class={attempt.ok ? 'ok' : 'failed'}>
            <p>
              <span class="badge">{attempt.ok ? 'ok' : 'failed'}</span> {attempt.tool}
              {attempt.rows != null ? ` · ${attempt.rows} rows` : ''}
              {attempt.elapsed_ms != null ? ` · ${formatNumber(attempt.elapsed_ms)} ms` : ''}
            </p>
            <pre>
              <code>{attempt.sql}</code>
            </pre>
            {attempt.error ? <p class="error-text">{attempt.error}</p> : null}
          </li>
        ))}
      </ol>
    </details>
  );
}

function ShareButton({ answer }: { answer: Answer }) {
  const api = useApi();
  const [link, setLink] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <>
      <button
        type="button"
        class="secondary"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setError(null);
          try {
            const shared = await api.share(answer);
            const url = `${window.location.origin}${window.location.pathname}${answerHref(shared.id)}`;
            setLink(url);
            await navigator.clipboard?.writeText(url).catch(() => undefined);
          } catch (problem) {
            setError(problem);
          } finally {
            setBusy(false);
          }
        }}
      >
        Share
      </button>
      {link ? (
        <p role="status">
          Link to this answer: <a href={link}>{link}</a>
        </p>
      ) : null}
      <ErrorNote error={error} />
    </>
  );
}
