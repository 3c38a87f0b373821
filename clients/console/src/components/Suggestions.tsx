// Suggestions for the filter fields from GET /api/v1/facts (the services and environments seen lately). They
// only help typing: when the facts cannot be read the fields work as before, so failures are not shown.
import { useEffect, useState } from 'preact/hooks';
import { useApi } from '../context';
import type { Facts } from '../types';

export function useFacts(): Facts | null {
  const api = useApi();
  const [facts, setFacts] = useState<Facts | null>(null);
  useEffect(() => {
    let current = true;
    api
      .facts()
      .then((found) => current && setFacts(found))
      .catch(() => undefined);
    return () => {
      current = false;
    };
  }, [api]);
  return facts;
}

export function Suggestions({ id, values }: { id: string; values: { value: string }[] | undefined }) {
  return (
    <datalist id={id}>
      {(values ?? []).map((item) => (
        <option key={item.value} value={item.value} />
      ))}
    </datalist>
  );
}
