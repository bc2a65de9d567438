/** Imaging resolvers: ImagingStudy (DICOM) and its report, and the list on Patient. */
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { loadById, loadChildren, loadPatientPage, type PageArgs } from '../../../lib/connection.js';
import { coding, entityRef, recordFields, type Row } from '../../../lib/records.js';
import { SYSTEM } from '../../../lib/synthetic/codes.js';
import type { SubgraphContext } from '../../../lib/subgraph.js';

export const resolvers: GraphQLResolverMap<SubgraphContext> = {
  Query: {
    imagingStudy: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'imaging_study', id),
    imagingStudyByUid: async (_: unknown, { studyInstanceUid }: { studyInstanceUid: string }, context: SubgraphContext) =>
      (await context.db.query('SELECT * FROM imaging_study WHERE study_instance_uid = $1', [studyInstanceUid]))[0] ?? null,
  },
  Patient: {
    imagingStudies: (patient: { id: string }, args: PageArgs & { modality?: string }, context: SubgraphContext) =>
      loadPatientPage(context, 'imagingStudies', {
        table: 'imaging_study', timeColumn: 'started',
        ...(args.modality ? { where: 'r.modality = $7', params: [args.modality] } : {}),
      }, patient.id, args),
  },
  ImagingStudy: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadById(context, 'imaging_study', reference.id),
    ...recordFields,
    studyInstanceUid: (row: Row) => row.study_instance_uid,
    modality: (row: Row) => coding(SYSTEM.dicom, row.modality, row.modality_display),
    bodySite: (row: Row) => coding(SYSTEM.snomed, row.body_site, row.body_site_display),
    numberOfSeries: (row: Row) => row.number_of_series,
    numberOfInstances: (row: Row) => row.number_of_instances,
    report: async (row: Row, _: unknown, context: SubgraphContext) =>
      (await loadChildren(context, 'imaging_report', 'study_id', row.id, 'id'))[0] ?? null,
  },
  ImagingReport: {
    radiologist: (row: Row) => entityRef(row.radiologist_id),
  },
};
