/**
 * The patient's timeline (Patient.timeline): newest first, infinite scroll
 * over the cursor, filters by kind and date range, withheld fields with their
 * reason in place, and the count of entries the patient's consent withholds.
 */
import { useEffect, useRef, useState } from 'react';
import { errorAt, errorUnder, type FieldError } from './errors';
import type { PatientTimelineQuery, TimelineKind } from './gql/graphql';
import { formatDate, formatDateTime, kindLabel, TIMELINE_KINDS } from './labels';
import { PatientTimelineQuery as TimelineDocument } from './operations';
import { useConnection } from './useConnection';
import { Field, WithheldReason } from './Withheld';

type Edge = NonNullable<NonNullable<PatientTimelineQuery['patient']>['timeline']>['edges'][number];
type Node = NonNullable<Edge['node']>;

const PAGE_SIZE = 20;

export interface TimelineStatus {
  withheldCount: number | null;
  emergencyAccess: { reason?: string; notice?: string } | null;
}

export function Timeline({ patientId, showWithheldCount, onStatus }: { patientId: string; showWithheldCount: boolean; onStatus?: (status: TimelineStatus) => void }) {
  const [kinds, setKinds] = useState<TimelineKind[]>([]);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const variables = {
    id: patientId,
    first: PAGE_SIZE,
    kinds: kinds.length ? kinds : null,
    from: from ? `${from}T00:00:00.000Z` : null,
    // The end date is included: entries before the next midnight.
    to: to ? new Date(Date.parse(`${to}T00:00:00.000Z`) + 86_400_000).toISOString() : null,
    withWithheldCount: showWithheldCount,
  };
  const timeline = useConnection(TimelineDocument, variables, (data) => data?.patient?.timeline, ['patient', 'timeline']);
  const withheldCount = timeline.first?.patient?.timeline?.withheldCount ?? null;
  const emergencyAccess = (timeline.extensions?.emergencyAccess as TimelineStatus['emergencyAccess']) ?? null;

  useEffect(() => {
    onStatus?.({ withheldCount, emergencyAccess });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [withheldCount, emergencyAccess?.reason]);

  // Infinite scroll: the sentinel below the list loads the next page when it comes into view.
  const sentinel = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = sentinel.current;
    if (!element) return;
    const observer = new IntersectionObserver((items) => items.some((item) => item.isIntersecting) && timeline.loadMore(), { rootMargin: '200px' });
    observer.observe(element);
    return () => observer.disconnect();
  }, [timeline.loadMore]);

  const toggle = (kind: TimelineKind) => setKinds((current) => (current.includes(kind) ? current.filter((k) => k !== kind) : [...current, kind]));

  return (
    <section aria-labelledby="timeline-title" className="timeline">
      <h2 id="timeline-title">Timeline</h2>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Timeline filters">
        <fieldset>
          <legend>Kinds</legend>
          {TIMELINE_KINDS.map(({ kind, label }) => (
            <label key={kind} className="chip">
              <input type="checkbox" name="kind" value={kind} checked={kinds.includes(kind)} onChange={() => toggle(kind)} />
              {label}
            </label>
          ))}
        </fieldset>
        <fieldset className="row">
          <legend>Date range</legend>
          <label>From<input type="date" name="from" value={from} onChange={(e) => setFrom(e.target.value)} /></label>
          <label>To<input type="date" name="to" value={to} onChange={(e) => setTo(e.target.value)} /></label>
          {kinds.length || from || to ? <button type="button" className="secondary" onClick={() => { setKinds([]); setFrom(''); setTo(''); }}>Clear filters</button> : null}
        </fieldset>
      </form>
      {withheldCount ? (
        <p className="notice" data-testid="withheld-count">
          <strong>{withheldCount}</strong> {withheldCount === 1 ? 'entry is' : 'entries are'} withheld by the patient's consent in this view.
        </p>
      ) : null}
      {timeline.networkError ? <p role="alert" className="error">{timeline.networkError}</p> : null}
      {timeline.errors.map((e, i) => <p key={i} role="alert" className="error"><WithheldReason error={e} /></p>)}
      <ol className="entries" aria-label="Timeline entries" aria-busy={timeline.loading}>
        {timeline.entries.map(({ edge, errors }) => <TimelineEntry key={edge.cursor} edge={edge} errors={errors} />)}
      </ol>
      <div ref={sentinel} data-testid="timeline-sentinel" />
      <p aria-live="polite" className="muted" data-testid="timeline-status">
        {timeline.loading ? 'Loading…' : `${timeline.entries.length} ${timeline.entries.length === 1 ? 'entry' : 'entries'}${timeline.hasNextPage ? ', more below' : ', end of the timeline'}`}
      </p>
      {timeline.hasNextPage && !timeline.loading ? <button type="button" className="secondary" onClick={timeline.loadMore}>Load more</button> : null}
    </section>
  );
}

function TimelineEntry({ edge, errors }: { edge: Edge; errors: FieldError[] }) {
  const node = edge.node;
  const at = (...path: (string | number)[]) => errorAt(errors, ['node', ...path]);
  return (
    <li className={`entry kind-${edge.kind.toLowerCase()}`} data-testid="timeline-entry" data-kind={edge.kind}>
      <div className="entry-head">
        <span className="kind">{kindLabel(edge.kind)}</span>
        <time dateTime={edge.occurredAt}>{formatDateTime(edge.occurredAt)}</time>
      </div>
      {node ? <NodeDetails node={node} at={at} /> : errorUnder(errors, ['node'])
        ? <WithheldReason error={errorUnder(errors, ['node'])!} what="Entry" />
        : <p className="muted">No longer available.</p>}
    </li>
  );
}

type Concept = { coding: { display?: string | null; code: string }[]; text?: string | null } | null | undefined;
/** A medication's name: its text, else its first coding's display or code (a concept, or the referenced Medication's code). */
function medicationName(node: { medication?: Concept; medicationReference?: { code?: Concept } | null }): string | null {
  const concept = node.medication ?? node.medicationReference?.code;
  return concept ? concept.text ?? concept.coding[0]?.display ?? concept.coding[0]?.code ?? null : null;
}

function NodeDetails({ node, at }: { node: Node; at: (...path: (string | number)[]) => FieldError | undefined }) {
  const labels = 'sensitivityLabels' in node && node.sensitivityLabels?.length ? <span className="labels">{node.sensitivityLabels.join(', ')}</span> : null;
  switch (node.__typename) {
    case 'Encounter':
      return <dl className="details"><Field label="Visit" error={at('class')}>{node.class?.toLowerCase()} · {node.status}</Field><Field label="Reason" error={at('reason')}>{node.reason?.display ?? node.reason?.code}</Field><Field label="Where" error={at('organization')}>{node.organization?.name}</Field>{labels}</dl>;
    case 'Condition':
      return <dl className="details"><Field label="Diagnosis" error={at('code')}>{node.code ? `${node.code.code} ${node.code.display ?? ''}` : null}</Field><Field label="Status" error={at('clinicalStatus')}>{node.clinicalStatus}</Field><Field label="Recorded by" error={at('organization')}>{node.organization?.name}</Field>{labels}</dl>;
    case 'ClinicalObservation': {
      type Value = { quantity?: { value?: number | null; comparator?: string | null; unit?: string | null } | null; codeableConcept?: { coding: { display?: string | null }[]; text?: string | null } | null; string?: string | null; boolean?: boolean | null; integer?: number | null } | null | undefined;
      const shown = (v: Value) => (!v ? '' : v.quantity ? `${v.quantity.comparator ?? ''}${v.quantity.value ?? ''} ${v.quantity.unit ?? ''}`.trim()
        : v.codeableConcept ? v.codeableConcept.text ?? v.codeableConcept.coding[0]?.display ?? '' : v.string ?? (typeof v.boolean === 'boolean' ? (v.boolean ? 'yes' : 'no') : v.integer?.toString() ?? ''));
      const value = node.components?.length ? node.components.map((c) => `${c.code?.coding[0]?.display ?? c.code?.text ?? ''} ${shown(c.value)}`).join(' / ') : shown(node.observationValue);
      return <dl className="details"><Field label="Observation" error={at('code')}>{node.observationCode?.text ?? node.observationCode?.coding[0]?.display}{node.observationCategories?.length ? ` (${node.observationCategories.map((c) => c.coding[0]?.display ?? c.coding[0]?.code).join(', ')})` : ''}</Field><Field label="Value" error={at('value') ?? at('components')}>{value}</Field><Field label="Status" error={at('status')}>{node.observationStatus}</Field><Field label="Recorded by" error={at('organization')}>{node.organization?.name}</Field>{labels}</dl>;
    }
    case 'AllergyIntolerance': {
      const seen = (node.reactions ?? []).map((r) => [r.manifestations?.map((m) => m.text ?? m.coding[0]?.display).join(', '), r.severity].filter(Boolean).join(' · ')).join('; ');
      return <dl className="details"><Field label="Allergy" error={at('substance')}>{node.substance?.text ?? node.substance?.coding[0]?.display}{node.allergyCategory?.length ? ` (${node.allergyCategory.join(', ')})` : ''}</Field><Field label="Reactions" error={at('reactions')}>{seen}</Field><Field label="Status" error={at('clinicalStatus') ?? at('criticality')}>{node.clinicalStatus} · {node.verificationStatus}{node.criticality ? ` · ${node.criticality} criticality` : ''}</Field><Field label="Recorded by" error={at('organization')}>{node.organization?.name}</Field>{labels}</dl>;
    }
    case 'Procedure': {
      const words = (c: { coding: { display?: string | null }[]; text?: string | null } | null | undefined) => c?.text ?? c?.coding[0]?.display;
      const until = node.performedPeriod?.end ? ` until ${formatDateTime(node.performedPeriod.end)}` : '';
      return <dl className="details"><Field label="Procedure" error={at('procedureCode')}>{words(node.procedureCode)}{node.procedureBodySite?.length ? ` (${node.procedureBodySite.map(words).join(', ')})` : ''}</Field><Field label="Status" error={at('procedureStatus') ?? at('procedureOutcome')}>{node.procedureStatus}{node.procedureOutcome ? ` · ${words(node.procedureOutcome)}` : ''}{until}</Field><Field label="Where" error={at('organization') ?? at('procedureLocation')}>{node.organization?.name}{node.procedureLocation?.display ? ` · ${node.procedureLocation.display}` : ''}</Field>{labels}</dl>;
    }
    case 'CarePlan': {
      const words = (c: { coding: { display?: string | null }[]; text?: string | null } | null | undefined) => c?.text ?? c?.coding[0]?.display;
      const activities = (node.activity ?? []).map((a) => [words(a.code), a.status].filter(Boolean).join(' · ')).join('; ');
      const until = node.carePlanPeriod?.end ? ` until ${formatDateTime(node.carePlanPeriod.end)}` : '';
      return <dl className="details"><Field label="Care plan" error={at('carePlanCategory')}>{(node.carePlanCategory ?? []).map(words).join(', ')}</Field><Field label="Activities" error={at('activity')}>{activities}</Field><Field label="Status" error={at('carePlanStatus') ?? at('intent')}>{node.carePlanStatus} · {node.intent}{until}</Field><Field label="By" error={at('organization')}>{node.organization?.name}</Field>{labels}</dl>;
    }
    case 'CareTeam': {
      const words = (c: { coding: { display?: string | null }[]; text?: string | null } | null | undefined) => c?.text ?? c?.coding[0]?.display;
      const members = (node.participant ?? []).map((p) => [p.member?.display ?? p.member?.reference ?? p.member?.identifier?.value, (p.role ?? []).map(words).join(', ')].filter(Boolean).join(': ')).join('; ');
      return <dl className="details"><Field label="Care team" error={at('careTeamReason')}>{(node.careTeamReason ?? []).map(words).join(', ')}</Field><Field label="Members" error={at('participant')}>{members}</Field><Field label="Status" error={at('careTeamStatus')}>{node.careTeamStatus}</Field><Field label="By" error={at('organization')}>{node.organization?.name}</Field>{labels}</dl>;
    }
    case 'Referral':
      return <dl className="details"><Field label="Referral" error={at('referralStatus')}>{node.referralStatus?.toLowerCase()}</Field><Field label="Reason" error={at('reason')}>{node.reason?.display ?? node.reason?.code}</Field><Field label="From → to" error={at('requester') ?? at('performer')}>{node.requester?.name} → {node.performer?.name}</Field></dl>;
    case 'Observation':
      return <dl className="details"><Field label="Test" error={at('code')}>{node.code?.display}</Field><Field label="Result" error={at('valueQuantity') ?? at('valueString')}>{node.valueQuantity ? `${node.valueQuantity.value} ${node.valueQuantity.unit ?? ''}` : node.valueString}{node.interpretation ? <span className="flag"> {node.interpretation.code}</span> : null}</Field><Field label="Laboratory" error={at('organization')}>{node.organization?.name}</Field>{labels}</dl>;
    case 'DiagnosticReport':
      return <dl className="details"><Field label="Report" error={at('code')}>{node.code?.display} ({node.category})</Field><Field label="Conclusion" error={at('conclusion')}>{node.conclusion}</Field><Field label="From" error={at('organization')}>{node.organization?.name}</Field>{labels}</dl>;
    case 'ImagingStudy':
      return <dl className="details"><Field label="Study" error={at('modality')}>{node.modality?.code} {node.bodySite?.display ?? ''} {node.description ?? ''}</Field><Field label="Report" error={at('report')}>{node.report?.impression}</Field><Field label="From" error={at('organization')}>{node.organization?.name}</Field>{labels}</dl>;
    case 'Immunization':
      return <dl className="details"><Field label="Vaccine" error={at('vaccineCode')}>{node.vaccineCode?.display} (dose {node.doseNumber})</Field><Field label="Given by" error={at('organization')}>{node.organization?.name}</Field></dl>;
    case 'ProgramEnrollment':
      return <dl className="details"><Field label="Programme" error={at('program')}>{node.program?.name} · {node.status}</Field><Field label="Responsible" error={at('organization')}>{node.organization?.name}</Field></dl>;
    case 'FollowUpTask':
      return <dl className="details"><Field label="Task" error={at('taskDescription')}>{node.taskDescription}</Field><Field label="Due" error={at('dueDate')}>{formatDate(node.dueDate)} · {node.taskStatus?.toLowerCase()}</Field><Field label="For" error={at('organization')}>{node.organization?.name}</Field></dl>;
    case 'MedicationRequest':
      return <dl className="details"><Field label="Prescription" error={at('medication') ?? at('medicationReference')}>{medicationName(node)}</Field><Field label="Dosage" error={at('dosageInstruction')}>{node.dosageInstruction?.map((d) => d.text).filter(Boolean).join('; ')}</Field><Field label="Status" error={at('status')}>{node.status} · {node.intent}</Field><Field label="Prescribed by" error={at('organization')}>{node.organization?.name}</Field>{labels}</dl>;
    case 'MedicationAdministration':
      return <dl className="details"><Field label="Given" error={at('medication') ?? at('medicationReference')}>{medicationName(node)}</Field><Field label="Dose" error={at('givenDose')}>{node.givenDose?.text ?? (node.givenDose?.dose ? `${node.givenDose.dose.value} ${node.givenDose.dose.unit ?? ''}` : null)}</Field><Field label="Status" error={at('status')}>{node.status}</Field><Field label="Where" error={at('organization')}>{node.organization?.name}</Field>{labels}</dl>;
    case 'MedicationStatement':
      return <dl className="details"><Field label="Takes" error={at('medication') ?? at('medicationReference')}>{medicationName(node)}</Field><Field label="Dosage" error={at('takenDosage')}>{node.takenDosage?.map((d) => d.text).filter(Boolean).join('; ')}</Field><Field label="Status" error={at('status')}>{node.status}</Field><Field label="Recorded by" error={at('organization')}>{node.organization?.name}</Field>{labels}</dl>;
    case 'HomeMeasurement':
      return <dl className="details"><Field label="Measured at home" error={at('kind') ?? at('value') ?? at('systolic')}>{node.kind?.toLowerCase().replace('_', ' ')}: {node.systolic != null ? `${node.systolic}/${node.diastolic}` : node.value} {node.unit}</Field></dl>;
    case 'ClinicalNote':
      // The note's text is long and sensitive: behind an expander, opened on request.
      return <dl className="details"><Field label="Note" error={at('title') ?? at('noteType')}>{node.title ?? node.noteType?.text ?? node.noteType?.coding[0]?.display}{node.noteType?.coding[0]?.display && node.noteType.coding[0].display !== node.title ? ` (${node.noteType.coding[0].display})` : ''}</Field><Field label="Written" error={at('date')}>{formatDateTime(node.date)}{node.author?.name?.text ? ` · ${node.author.name.text}` : ''}{node.status ? ` · ${node.status}` : ''}</Field><Field label="From" error={at('organization')}>{node.organization?.name}</Field><Field label="Text" error={at('noteText')}>{node.noteText ? <details className="note-text"><summary>Show the note</summary><pre>{node.noteText}</pre></details> : null}</Field>{labels}</dl>;
    default:
      return null;
  }
}
