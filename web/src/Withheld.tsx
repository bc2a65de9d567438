/** A value, or the reason it is withheld, in place. */
import type { ReactNode } from 'react';
import { describeCode, type FieldError } from './errors';

export function WithheldReason({ error, what }: { error: FieldError; what?: string }) {
  return (
    <span className={`withheld withheld-${(error.code ?? 'error').toLowerCase()}`} role="note" data-testid="withheld" data-code={error.code}>
      <span aria-hidden="true">🔒 </span>
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
