// A shared answer (/#/answers/<id>): the answer as it was when it was shared, read from GET /api/v1/answers/<id>.
import { useEffect, useState } from 'preact/hooks';
import { AnswerView } from '../components/AnswerView';
import { ErrorNote } from '../components/Common';
import { useApi } from '../context';
import { formatTime } from '../format';
import type { SharedAnswer } from '../types';

export function SharedAnswerView({ id }: { id: string }) {
  const api = useApi();
  const [shared, setShared] = useState<SharedAnswer | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    setShared(null);
    setError(null);
    api.sharedAnswer(id).then(setShared, setError);
  }, [id]);
  return (
    <section aria-labelledby="shared-title">
      <h1 id="shared-title">Shared answer</h1>
      <ErrorNote error={error} />
      {shared ? (
        <>
          <p class="muted">
            “{shared.answer.question}” — shared by {shared.created_by}, {formatTime(shared.created_at)}
          </p>
          <AnswerView answer={shared.answer} shareable={false} />
        </>
      ) : !error ? (
        <p class="muted">Loading…</p>
      ) : null}
    </section>
  );
}
