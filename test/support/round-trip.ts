/**
 * The round trip of issue 27 ("nothing comes out changed"): every element an
 * institution sent must come back from `$everything` as it was sent. The
 * comparison is element by element, written independently of the product's
 * mappings: each leaf of the sent resource is looked up at the same path in
 * the exported one. Allowed differences are only those FHIR itself treats as
 * the same value:
 * - a reference to another entry of the transaction (urn:uuid:…) comes back
 *   as the record's Type/id (`resolve` maps them), and a logical reference by
 *   identifier to the patient comes back literal;
 * - an instant comes back in its UTC form (2026-03-01T09:30:00+01:00 and
 *   2026-03-01T08:30:00.000Z are one instant);
 * - what the server manages (id, meta other than the labels, the narrative)
 *   and the business identifiers (kept by the publishing protocol for retries
 *   and conditional creates, not part of the export yet: docs/records.md).
 * The exported resource may hold more (derived elements: a display, a UCUM
 * system): only what was sent is compared.
 */
type Json = Record<string, any>;

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** The paths (FHIRPath-like) of the sent elements the export lost or changed: empty when it came back whole. */
export function lostElements(sent: unknown, exported: unknown, resolve: (reference: string) => string | undefined, path = ''): string[] {
  if (Array.isArray(sent)) {
    // FHIR has no empty lists: an empty one sent is the element absent.
    if (!sent.length) return [];
    if (!Array.isArray(exported)) return [`${path} (sent a list of ${sent.length}, got ${JSON.stringify(exported)})`];
    // Items keep their order, except where the export orders a list itself: then each sent item must match one exported item.
    return sent.flatMap((item, n) => {
      const same = lostElements(item, exported[n], resolve, `${path}[${n}]`);
      if (!same.length) return [];
      return exported.some((other) => !lostElements(item, other, resolve, '').length) ? [] : same;
    });
  }
  if (sent !== null && typeof sent === 'object') {
    if (exported === null || typeof exported !== 'object' || Array.isArray(exported)) return [`${path} (missing)`];
    return Object.entries(sent as Json).filter(([, value]) => value !== undefined).flatMap(([key, value]) => {
      const at = path ? `${path}.${key}` : key;
      if (!path && (key === 'id' || key === 'text' || key === 'identifier')) return [];
      if (!path && key === 'meta') return value?.security === undefined ? [] : lostElements({ security: value.security }, (exported as Json).meta ?? {}, resolve, at);
      if (key === 'reference' && typeof value === 'string') {
        const expected = resolve(value) ?? value;
        return (exported as Json).reference === expected ? [] : [`${at} (sent ${value}, expected ${expected}, got ${String((exported as Json).reference)})`];
      }
      // A logical reference to the patient by identifier comes back as the literal reference.
      if (key === 'identifier' && typeof (exported as Json).reference === 'string' && (exported as Json).identifier === undefined && /^Patient\//.test((exported as Json).reference)) return [];
      return lostElements(value, (exported as Json)[key], resolve, at);
    });
  }
  if (typeof sent === 'string' && typeof exported === 'string' && INSTANT.test(sent) && INSTANT.test(exported)) {
    return Date.parse(sent) === Date.parse(exported) ? [] : [`${path} (sent ${sent}, got ${exported})`];
  }
  return Object.is(sent, exported) ? [] : [`${path} (sent ${JSON.stringify(sent)}, got ${JSON.stringify(exported)})`];
}

/**
 * Every sent resource of a transaction (but those `skip` leaves out) against the resource of the same
 * location among `returned` (an export's or a searchset's resources): the elements lost, each prefixed by the
 * record's location. `locations`: each fullUrl → the location the transaction-response gave it. A record
 * absent from `returned` is reported unless `partial` (a search of some types only).
 */
export function lostResources(sent: Json, locations: Map<string, string>, returned: Json[],
  options: { skip?: (resource: Json) => boolean; partial?: boolean } = {}): string[] {
  const byLocation = new Map(returned.map((r) => [`${r.resourceType}/${r.id}`, r]));
  const lost: string[] = [];
  for (const item of sent.entry as { fullUrl: string; resource: Json }[]) {
    if (options.skip?.(item.resource)) continue;
    const location = locations.get(item.fullUrl)!;
    const back = byLocation.get(location);
    if (!back) {
      if (!options.partial) lost.push(`${location}: not returned`);
    } else lost.push(...lostElements(item.resource, back, (ref) => locations.get(ref)).map((path) => `${location} ${path}`));
  }
  return lost;
}

/** The FHIR resource types a patient's records are searched by (`patient=`), besides Patient by `_id`. */
export const SEARCHED_TYPES = ['Patient', 'Encounter', 'Condition', 'Observation', 'DiagnosticReport', 'DocumentReference', 'AllergyIntolerance', 'MedicationRequest',
  'MedicationAdministration', 'MedicationStatement', 'Procedure', 'CarePlan', 'CareTeam', 'ImagingStudy', 'Immunization'];

/**
 * Every resource FHIR search gives back for a patient, type by type, every
 * page followed (includes left out): what `read` (a GET of a path, its JSON)
 * answers as the caller it reads for.
 */
export async function searchedResources(read: (path: string) => Promise<Json>, patientId: string, types = SEARCHED_TYPES): Promise<Json[]> {
  const found: Json[] = [];
  for (const type of types) {
    let next: string | undefined = type === 'Patient' ? `/fhir/Patient?_id=${patientId}` : `/fhir/${type}?patient=${patientId}&_count=100`;
    while (next) {
      const page: Json = await read(next);
      found.push(...(page.entry ?? []).filter((e: Json) => e.search?.mode !== 'include').map((e: Json) => e.resource));
      next = page.link?.find((l: Json) => l.relation === 'next')?.url;
    }
  }
  return found;
}
