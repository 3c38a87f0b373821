// Ask in plain language. POST /api/v1/ask answers at once (200) or, when the answer takes a while, with
// 202 {"id", "status": "running"}; then GET /api/v1/ask/<id> is polled until the answer is there.
import { useEffect, useRef, useState } from 'preact/hooks';
import { isPending } from '../api';
import { AnswerView } from '../components/AnswerView';
import { ErrorNote } from '../components/Common';
import { useApi } from '../context';
import type { Answer } from '../types';

export const POLL_MS = 1000;
const MAX_POLLS = 600; // ten minutes: longer than any step budget

export function Ask({ initial }: { initial?: string }) {
  const api = useApi();
  const [question, setQuestion] = useState(initial ?? '');
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>(null);
  const conversation = useRef<string | null>(null);
  const alive = useRef(true);
  useEffect(() => () => void (alive.current = false), []);

  const ask = async (text: string, followUp: boolean) => {
    if (!text.trim() || busy) return;
    setBusy(true);
    setError(null);
    setStatus('Asking…');
    try {
      let result = await api.ask(text.trim(), followUp ? conversation.current : null);
      for (let polls = 0; isPending(result); polls++) {
        if (polls >= MAX_POLLS) throw new Error('no answer after ten minutes; try a narrower question');
        setStatus(`Working on it… (${polls + 1} s)`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        if (!alive.current) return;
        result = await api.askStatus(result.id);
      }
      conversation.current = result.conversation_id ?? conversation.current;
      setAnswer(result);
      setStatus('Answered.');
    } catch (problem) {
      setError(problem);
      setStatus('');
    } finally {
      if (alive.current) setBusy(false);
    }
  };
  // A saved question opened from the saved list asks right away.
  useEffect(() => {
    if (initial) void ask(initial, false);
  }, [initial]);

  return (
    <section aria-labelledby="ask-title">
      <h1 id="ask-title">Ask</h1>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void ask(question, answer !== null);
        }}
      >
        <label for="question">Your question about the logs</label>
        <textarea
          id="question"
          rows={3}
          maxLength={2000}
          value={question}
          placeholder="How many payment errors in the last hour, and why?"
          onInput={(event) => setQuestion(event.currentTarget.value)}
          onKeyDown={(event) => {
            if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
              event.preventDefault();
              void ask(question, answer !== null);
            }
          }}
        />
        <div class="actions">
          <button type="submit" disabled={busy || !question.trim()}>
            {answer ? 'Ask a follow-up' : 'Ask'}
          </button>
          {answer ? (
            <button
              type="button"
              class="secondary"
              disabled={busy}
              onClick={() => {
                conversation.current = null;
                void ask(question, false);
              }}
            >
              Ask as a new question
            </button>
          ) : null}
          <span class="hint">Ctrl+Enter asks</span>
        </div>
      </form>
      <p role="status" aria-live="polite" class="muted">
        {status}
      </p>
      <ErrorNote error={error} />
      {answer ? <AnswerView answer={answer} /> : null}
    </section>
  );
}
