/** A value, or the reason it is withheld, in place. */
import type { ReactNode } from 'react';
import { describeCode, type FieldError } from './errors';

export function WithheldReason({ error, what }: { error: FieldError; what?: string }) {
  return (
    <span className={`withheld withheld-${(error.code ?? 'error').toLowerCase()}`} role="note" data-testid="withheld" data-code={error.code}>
      <svg className="lock" aria-hidden="true" viewBox="0 0 16 16" width="12" height="12"><path fill="currentColor" d="M4 7V5a4 4 0 1 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 1 0-4 0v2z" /></svg>
      {what ? <strong>{what} withheld: </strong> : <strong>{describeCode(error.code)}: </strong>}
      {error.message}
      {error.code ? <code className="code">{error.code}</code> : null}
    </span>
  );
}

/** Renders `children` unless the field was withheld, in which case the reason. */
export function Field({ label, error, children }: { label: string; error?: FieldError; children: ReactNode }) {
  return (
    <div className="field">
      <dt>{label}</dt>
      <dd>{error ? <WithheldReason error={error} what={label} /> : children ?? <span className="muted">—</span>}</dd>
    </div>
  );
}
