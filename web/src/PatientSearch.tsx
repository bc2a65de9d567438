/** Staff: find a patient by name, birth date or identifier (searchPatients), paged. */
import { useState, type FormEvent } from 'react';
import { errorAt, type FieldError } from './errors';
import { formatDate } from './labels';
import { SearchPatientsQuery } from './operations';
import { useConnection } from './useConnection';
import { WithheldReason } from './Withheld';

interface Criteria { name?: string; birthDate?: string; identifier?: string }

export function PatientSearch({ onOpen }: { onOpen: (id: string) => void }) {
  const [form, setForm] = useState<Criteria>({});
  const [criteria, setCriteria] = useState<Criteria | null>(null);
  const results = useConnection(SearchPatientsQuery, criteria ? { ...criteria, first: 20 } : null, (data) => data?.searchPatients, ['searchPatients']);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const clean = Object.fromEntries(Object.entries(form).filter(([, v]) => v && v.trim())) as Criteria;
    setCriteria(Object.keys(clean).length ? clean : null);
  };
  const nameError = (errors: FieldError[]) => errorAt(errors, ['node', 'name']);

  return (
    <main className="card" aria-labelledby="search-title">
      <h1 id="search-title">Find a patient</h1>
      <form role="search" onSubmit={submit} className="row">
        <label>Name<input name="name" minLength={2} placeholder="part of a name" value={form.name ?? ''} onChange={(e) => setForm({ ...form, name: e.target.value })} /></label>
        <label>Birth date<input name="birthDate" type="date" value={form.birthDate ?? ''} onChange={(e) => setForm({ ...form, birthDate: e.target.value })} /></label>
        <label>Identifier<input name="identifier" placeholder="record or health card number" value={form.identifier ?? ''} onChange={(e) => setForm({ ...form, identifier: e.target.value })} /></label>
        <button type="submit">Search</button>
      </form>
      {results.errors.map((e, i) => <p key={i} role="alert" className="error">{e.message}</p>)}
      {criteria && !results.loading && results.entries.length === 0 && results.errors.length === 0 ? <p className="muted">No patient you may see matches.</p> : null}
      <ul className="results" aria-label="Search results">
        {results.entries.map(({ edge, errors }) => (
          <li key={edge.cursor}>
            <button type="button" className="result" data-testid="search-result" onClick={() => onOpen(edge.node.id)}>
              <span className="name">{nameError(errors) ? <WithheldReason error={nameError(errors)!} what="Name" /> : edge.node.name?.[0]?.text ?? '—'}</span>
              <span className="muted">{edge.node.birthDate ? `born ${formatDate(edge.node.birthDate)}` : ''} {edge.node.gender?.toLowerCase() ?? ''}</span>
              <span className="muted small">{edge.node.identifiers?.map((i) => `${i.type} ${i.value}`).join(' · ')}</span>
            </button>
          </li>
        ))}
      </ul>
      {results.hasNextPage ? <button type="button" className="secondary" onClick={results.loadMore} disabled={results.loading}>More results</button> : null}
      {results.loading ? <p aria-live="polite" className="muted">Searching…</p> : null}
    </main>
  );
}
