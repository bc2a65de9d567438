/**
 * How many patients the export reads in one operation: at most
 * `maxPatients`, and fewer when the patients' records are large, so that a
 * batch's resources stay near `maxBytes` (the issue's "batches bounded by
 * bytes as well as count"). The size follows the bytes per patient the last
 * batches wrote (an average that forgets: a cohort sorted by enrolment has
 * runs of heavy and light patients). It starts at two patients and at most
 * doubles from one batch to the next: the gateway runs with a small heap
 * (NODE_HEAP_OPTIONS), and a batch's GraphQL answer takes several times the
 * bytes of the resources it becomes.
 */
import { MAX_BATCH_PATIENTS } from '../queries.js';

export class BatchSizer {
  /** Bytes of resources per patient, as last observed (0: nothing observed yet). */
  private perPatient = 0;
  private last = 0;

  constructor(private readonly maxPatients: number, private readonly maxBytes: number) {}

  /** Patients in the next batch. The first batch is small: nothing is known of the cohort's records yet. */
  get size(): number {
    const cap = Math.max(1, Math.min(MAX_BATCH_PATIENTS, this.maxPatients));
    if (this.perPatient === 0) return Math.min(cap, 2);
    return Math.max(1, Math.min(cap, 2 * this.last, Math.floor(this.maxBytes / this.perPatient)));
  }

  /** A batch of `patients` wrote `bytes`. */
  observe(patients: number, bytes: number): void {
    if (patients <= 0) return;
    this.last = patients;
    const observed = Math.max(1, bytes / patients);
    this.perPatient = this.perPatient === 0 ? observed : 0.5 * this.perPatient + 0.5 * observed;
  }
}
