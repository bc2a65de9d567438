/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query Organizations {\n    organizations { id name type }\n  }\n": typeof types.OrganizationsDocument,
    "\n  query SearchPatients($name: String, $birthDate: Date, $identifier: String, $first: Int, $after: String) {\n    searchPatients(name: $name, birthDate: $birthDate, identifier: $identifier, first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          name { text }\n          birthDate\n          gender\n          identifiers { system value type assigner { name } }\n        }\n      }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": typeof types.SearchPatientsDocument,
    "\n  query PatientHeader($id: ID!) {\n    patient(id: $id) {\n      id\n      name { text }\n      birthDate\n      gender\n      telecom { system value }\n      address { line city }\n      identifiers { value type assigner { name } }\n    }\n  }\n": typeof types.PatientHeaderDocument,
    "\n  query PatientTimeline($id: ID!, $first: Int, $after: String, $kinds: [TimelineKind!], $from: DateTime, $to: DateTime, $withWithheldCount: Boolean!) {\n    patient(id: $id) {\n      id\n      timeline(first: $first, after: $after, kinds: $kinds, from: $from, to: $to) {\n        edges {\n          cursor\n          kind\n          occurredAt\n          node {\n            __typename\n            ... on Encounter { id class status organization { name } reason { code display } sensitivityLabels }\n            ... on Condition { id code { code display } clinicalStatus organization { name } sensitivityLabels }\n            ... on Referral { id referralStatus: status reason { code display } requester { name } performer { name } }\n            ... on Observation { id code { code display } valueQuantity { value unit } valueString interpretation { code } organization { name } sensitivityLabels }\n            ... on DiagnosticReport { id category code { display } conclusion organization { name } sensitivityLabels }\n            ... on ImagingStudy { id modality { code display } bodySite { display } description organization { name } report { impression } sensitivityLabels }\n            ... on Immunization { id vaccineCode { code display } doseNumber organization { name } }\n            ... on ProgramEnrollment { id status program { name } organization { name } }\n            ... on FollowUpTask { id taskDescription: description taskStatus: status dueDate organization { name } }\n            ... on HomeMeasurement { id kind systolic diastolic value unit }\n          }\n        }\n        pageInfo { hasNextPage endCursor }\n        withheldCount @include(if: $withWithheldCount)\n      }\n    }\n  }\n": typeof types.PatientTimelineDocument,
    "\n  query AccessLog($id: ID!, $first: Int, $after: String) {\n    patient(id: $id) {\n      id\n      accessLog(first: $first, after: $after) {\n        edges {\n          cursor\n          node { id occurredAt actorSub actorRole actorOrganization { name } clientId categories purposeOfUse breakGlass breakGlassReason }\n        }\n        pageInfo { hasNextPage endCursor }\n      }\n    }\n  }\n": typeof types.AccessLogDocument,
    "\n  query Consents($id: ID!) {\n    patient(id: $id) {\n      id\n      consents { id decision actorType actorId categories labels purposes periodStart periodEnd createdAt revokedAt active status confirmation recordedBy recordedAtOrganization { name } approvedScope app { name organization { name } } }\n    }\n  }\n": typeof types.ConsentsDocument,
    "\n  mutation GrantConsent($input: ConsentProvisionInput!) {\n    grantConsent(input: $input) { id decision actorType actorId categories active }\n  }\n": typeof types.GrantConsentDocument,
    "\n  mutation ApproveConsentRequest($id: ID!) {\n    approveConsentRequest(id: $id) { id status active }\n  }\n": typeof types.ApproveConsentRequestDocument,
    "\n  mutation DeclineConsentRequest($id: ID!) {\n    declineConsentRequest(id: $id) { id status active }\n  }\n": typeof types.DeclineConsentRequestDocument,
    "\n  mutation RevokeConsent($id: ID!) {\n    revokeConsent(id: $id) { id revokedAt active }\n  }\n": typeof types.RevokeConsentDocument,
};
const documents: Documents = {
    "\n  query Organizations {\n    organizations { id name type }\n  }\n": types.OrganizationsDocument,
    "\n  query SearchPatients($name: String, $birthDate: Date, $identifier: String, $first: Int, $after: String) {\n    searchPatients(name: $name, birthDate: $birthDate, identifier: $identifier, first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          name { text }\n          birthDate\n          gender\n          identifiers { system value type assigner { name } }\n        }\n      }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": types.SearchPatientsDocument,
    "\n  query PatientHeader($id: ID!) {\n    patient(id: $id) {\n      id\n      name { text }\n      birthDate\n      gender\n      telecom { system value }\n      address { line city }\n      identifiers { value type assigner { name } }\n    }\n  }\n": types.PatientHeaderDocument,
    "\n  query PatientTimeline($id: ID!, $first: Int, $after: String, $kinds: [TimelineKind!], $from: DateTime, $to: DateTime, $withWithheldCount: Boolean!) {\n    patient(id: $id) {\n      id\n      timeline(first: $first, after: $after, kinds: $kinds, from: $from, to: $to) {\n        edges {\n          cursor\n          kind\n          occurredAt\n          node {\n            __typename\n            ... on Encounter { id class status organization { name } reason { code display } sensitivityLabels }\n            ... on Condition { id code { code display } clinicalStatus organization { name } sensitivityLabels }\n            ... on Referral { id referralStatus: status reason { code display } requester { name } performer { name } }\n            ... on Observation { id code { code display } valueQuantity { value unit } valueString interpretation { code } organization { name } sensitivityLabels }\n            ... on DiagnosticReport { id category code { display } conclusion organization { name } sensitivityLabels }\n            ... on ImagingStudy { id modality { code display } bodySite { display } description organization { name } report { impression } sensitivityLabels }\n            ... on Immunization { id vaccineCode { code display } doseNumber organization { name } }\n            ... on ProgramEnrollment { id status program { name } organization { name } }\n            ... on FollowUpTask { id taskDescription: description taskStatus: status dueDate organization { name } }\n            ... on HomeMeasurement { id kind systolic diastolic value unit }\n          }\n        }\n        pageInfo { hasNextPage endCursor }\n        withheldCount @include(if: $withWithheldCount)\n      }\n    }\n  }\n": types.PatientTimelineDocument,
    "\n  query AccessLog($id: ID!, $first: Int, $after: String) {\n    patient(id: $id) {\n      id\n      accessLog(first: $first, after: $after) {\n        edges {\n          cursor\n          node { id occurredAt actorSub actorRole actorOrganization { name } clientId categories purposeOfUse breakGlass breakGlassReason }\n        }\n        pageInfo { hasNextPage endCursor }\n      }\n    }\n  }\n": types.AccessLogDocument,
    "\n  query Consents($id: ID!) {\n    patient(id: $id) {\n      id\n      consents { id decision actorType actorId categories labels purposes periodStart periodEnd createdAt revokedAt active status confirmation recordedBy recordedAtOrganization { name } approvedScope app { name organization { name } } }\n    }\n  }\n": types.ConsentsDocument,
    "\n  mutation GrantConsent($input: ConsentProvisionInput!) {\n    grantConsent(input: $input) { id decision actorType actorId categories active }\n  }\n": types.GrantConsentDocument,
    "\n  mutation ApproveConsentRequest($id: ID!) {\n    approveConsentRequest(id: $id) { id status active }\n  }\n": types.ApproveConsentRequestDocument,
    "\n  mutation DeclineConsentRequest($id: ID!) {\n    declineConsentRequest(id: $id) { id status active }\n  }\n": types.DeclineConsentRequestDocument,
    "\n  mutation RevokeConsent($id: ID!) {\n    revokeConsent(id: $id) { id revokedAt active }\n  }\n": types.RevokeConsentDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Organizations {\n    organizations { id name type }\n  }\n"): (typeof documents)["\n  query Organizations {\n    organizations { id name type }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query SearchPatients($name: String, $birthDate: Date, $identifier: String, $first: Int, $after: String) {\n    searchPatients(name: $name, birthDate: $birthDate, identifier: $identifier, first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          name { text }\n          birthDate\n          gender\n          identifiers { system value type assigner { name } }\n        }\n      }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"): (typeof documents)["\n  query SearchPatients($name: String, $birthDate: Date, $identifier: String, $first: Int, $after: String) {\n    searchPatients(name: $name, birthDate: $birthDate, identifier: $identifier, first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          name { text }\n          birthDate\n          gender\n          identifiers { system value type assigner { name } }\n        }\n      }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query PatientHeader($id: ID!) {\n    patient(id: $id) {\n      id\n      name { text }\n      birthDate\n      gender\n      telecom { system value }\n      address { line city }\n      identifiers { value type assigner { name } }\n    }\n  }\n"): (typeof documents)["\n  query PatientHeader($id: ID!) {\n    patient(id: $id) {\n      id\n      name { text }\n      birthDate\n      gender\n      telecom { system value }\n      address { line city }\n      identifiers { value type assigner { name } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query PatientTimeline($id: ID!, $first: Int, $after: String, $kinds: [TimelineKind!], $from: DateTime, $to: DateTime, $withWithheldCount: Boolean!) {\n    patient(id: $id) {\n      id\n      timeline(first: $first, after: $after, kinds: $kinds, from: $from, to: $to) {\n        edges {\n          cursor\n          kind\n          occurredAt\n          node {\n            __typename\n            ... on Encounter { id class status organization { name } reason { code display } sensitivityLabels }\n            ... on Condition { id code { code display } clinicalStatus organization { name } sensitivityLabels }\n            ... on Referral { id referralStatus: status reason { code display } requester { name } performer { name } }\n            ... on Observation { id code { code display } valueQuantity { value unit } valueString interpretation { code } organization { name } sensitivityLabels }\n            ... on DiagnosticReport { id category code { display } conclusion organization { name } sensitivityLabels }\n            ... on ImagingStudy { id modality { code display } bodySite { display } description organization { name } report { impression } sensitivityLabels }\n            ... on Immunization { id vaccineCode { code display } doseNumber organization { name } }\n            ... on ProgramEnrollment { id status program { name } organization { name } }\n            ... on FollowUpTask { id taskDescription: description taskStatus: status dueDate organization { name } }\n            ... on HomeMeasurement { id kind systolic diastolic value unit }\n          }\n        }\n        pageInfo { hasNextPage endCursor }\n        withheldCount @include(if: $withWithheldCount)\n      }\n    }\n  }\n"): (typeof documents)["\n  query PatientTimeline($id: ID!, $first: Int, $after: String, $kinds: [TimelineKind!], $from: DateTime, $to: DateTime, $withWithheldCount: Boolean!) {\n    patient(id: $id) {\n      id\n      timeline(first: $first, after: $after, kinds: $kinds, from: $from, to: $to) {\n        edges {\n          cursor\n          kind\n          occurredAt\n          node {\n            __typename\n            ... on Encounter { id class status organization { name } reason { code display } sensitivityLabels }\n            ... on Condition { id code { code display } clinicalStatus organization { name } sensitivityLabels }\n            ... on Referral { id referralStatus: status reason { code display } requester { name } performer { name } }\n            ... on Observation { id code { code display } valueQuantity { value unit } valueString interpretation { code } organization { name } sensitivityLabels }\n            ... on DiagnosticReport { id category code { display } conclusion organization { name } sensitivityLabels }\n            ... on ImagingStudy { id modality { code display } bodySite { display } description organization { name } report { impression } sensitivityLabels }\n            ... on Immunization { id vaccineCode { code display } doseNumber organization { name } }\n            ... on ProgramEnrollment { id status program { name } organization { name } }\n            ... on FollowUpTask { id taskDescription: description taskStatus: status dueDate organization { name } }\n            ... on HomeMeasurement { id kind systolic diastolic value unit }\n          }\n        }\n        pageInfo { hasNextPage endCursor }\n        withheldCount @include(if: $withWithheldCount)\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AccessLog($id: ID!, $first: Int, $after: String) {\n    patient(id: $id) {\n      id\n      accessLog(first: $first, after: $after) {\n        edges {\n          cursor\n          node { id occurredAt actorSub actorRole actorOrganization { name } clientId categories purposeOfUse breakGlass breakGlassReason }\n        }\n        pageInfo { hasNextPage endCursor }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AccessLog($id: ID!, $first: Int, $after: String) {\n    patient(id: $id) {\n      id\n      accessLog(first: $first, after: $after) {\n        edges {\n          cursor\n          node { id occurredAt actorSub actorRole actorOrganization { name } clientId categories purposeOfUse breakGlass breakGlassReason }\n        }\n        pageInfo { hasNextPage endCursor }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Consents($id: ID!) {\n    patient(id: $id) {\n      id\n      consents { id decision actorType actorId categories labels purposes periodStart periodEnd createdAt revokedAt active status confirmation recordedBy recordedAtOrganization { name } approvedScope app { name organization { name } } }\n    }\n  }\n"): (typeof documents)["\n  query Consents($id: ID!) {\n    patient(id: $id) {\n      id\n      consents { id decision actorType actorId categories labels purposes periodStart periodEnd createdAt revokedAt active status confirmation recordedBy recordedAtOrganization { name } approvedScope app { name organization { name } } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation GrantConsent($input: ConsentProvisionInput!) {\n    grantConsent(input: $input) { id decision actorType actorId categories active }\n  }\n"): (typeof documents)["\n  mutation GrantConsent($input: ConsentProvisionInput!) {\n    grantConsent(input: $input) { id decision actorType actorId categories active }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ApproveConsentRequest($id: ID!) {\n    approveConsentRequest(id: $id) { id status active }\n  }\n"): (typeof documents)["\n  mutation ApproveConsentRequest($id: ID!) {\n    approveConsentRequest(id: $id) { id status active }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeclineConsentRequest($id: ID!) {\n    declineConsentRequest(id: $id) { id status active }\n  }\n"): (typeof documents)["\n  mutation DeclineConsentRequest($id: ID!) {\n    declineConsentRequest(id: $id) { id status active }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RevokeConsent($id: ID!) {\n    revokeConsent(id: $id) { id revokedAt active }\n  }\n"): (typeof documents)["\n  mutation RevokeConsent($id: ID!) {\n    revokeConsent(id: $id) { id revokedAt active }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;