/**
 * HL7 v2 confidentiality fields, honoured where a sender fills them: they
 * become the HL7 v3 labels of `meta.security` on the resources the message
 * maps to, which the FHIR mapping then keeps (and the alliance's table of
 * sensitive codes adds to, as on every way in).
 *
 * - ORC-28 Confidentiality Code (HL7 table 0177), for the order group it
 *   opens: AID and HIV → HIV, PSY → PSY, ETH → ETH, UWM (unwed mother) →
 *   SEX, V → V. R, U, EMP, PLC, VIP are confidentiality levels the product
 *   derives or does not keep (no label).
 * - ARV-3 Access Restriction Value (HL7 table 0717, v2.6+): HIV → HIV, PSY →
 *   PSY, STD → STD, DRG (substance use) → ETH, SMD (sensitive medical data)
 *   and ALL → V. An ARV before the first order (the patient's) restricts every
 *   result of the message; one inside an order group, that group.
 *
 * Each ORC/OBR group's DiagnosticReport and the Observations of its OBX
 * carry the group's labels and the patient's.
 */
import type { Hl7Segment } from '@medplum/core';
import { SECURITY_LABEL_SYSTEMS, type SensitivityLabel } from '../../../../lib/records/terminology.js';

const TABLE_0177: Record<string, SensitivityLabel> = { AID: 'HIV', HIV: 'HIV', PSY: 'PSY', ETH: 'ETH', UWM: 'SEX', V: 'V' };
const TABLE_0717: Record<string, SensitivityLabel> = { HIV: 'HIV', PSY: 'PSY', STD: 'STD', DRG: 'ETH', SMD: 'V', ALL: 'V' };

type Json = Record<string, any>;

/** The labels of one CWE field's repetitions (component 1, the code), through a table. */
function labelsOf(segment: Hl7Segment, field: number, table: Record<string, SensitivityLabel>): SensitivityLabel[] {
  const labels: SensitivityLabel[] = [];
  const repetitions = segment.getField(field)?.components.length ?? 0;
  for (let r = 0; r < repetitions; r++) {
    const label = table[segment.getComponent(field, 1, undefined, r).trim().toUpperCase()];
    if (label) labels.push(label);
  }
  return labels;
}

/** Collects the labels of a message's ORC-28 and ARV-3 as its segments go by, then labels the resources. */
export class Hl7Confidentiality {
  private readonly patient = new Set<SensitivityLabel>();
  /** Labels of an ORC whose OBR has not come yet. */
  private pending: Set<SensitivityLabel> | null = null;
  private group: { labels: Set<SensitivityLabel>; resources: Json[] } | null = null;
  private readonly groups: { labels: Set<SensitivityLabel>; resources: Json[] }[] = [];

  /** Takes an ORC or ARV segment (true), or leaves the segment to the caller (false). */
  segment(segment: Hl7Segment): boolean {
    if (segment.name === 'ORC') {
      this.pending = new Set(labelsOf(segment, 28, TABLE_0177));
      return true;
    }
    if (segment.name !== 'ARV') return false;
    const target = this.pending ?? this.group?.labels ?? this.patient;
    for (const label of labelsOf(segment, 3, TABLE_0717)) target.add(label);
    return true;
  }

  /** An OBR opens an order group (with its ORC's labels, if an ORC came before it). */
  startGroup(): void {
    this.group = { labels: this.pending ?? new Set(), resources: [] };
    this.pending = null;
    this.groups.push(this.group);
  }

  /** A resource of the current group (its report, its results). */
  add(resource: Json): void {
    this.group?.resources.push(resource);
  }

  /** Writes each group's labels and the patient's into its resources' meta.security. */
  apply(): void {
    for (const group of this.groups) {
      const labels = [...new Set([...this.patient, ...group.labels])];
      if (!labels.length) continue;
      const security = labels.map((label) => (label === 'V'
        ? { system: SECURITY_LABEL_SYSTEMS.confidentiality, code: 'V' }
        : { system: SECURITY_LABEL_SYSTEMS.actCode, code: label }));
      for (const resource of group.resources) resource.meta = { ...resource.meta, security: [...(resource.meta?.security ?? []), ...security] };
    }
  }
}
