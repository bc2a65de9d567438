/**
 * Every operation the reference client sends, written with the generated
 * `graphql()` function: each document is typed from schema/api.graphql
 * (variables and result), so a field renamed in the API fails type-checking
 * here. Regenerate with `npm run codegen` after editing this file.
 */
import { graphql } from './gql';

export const OrganizationsQuery = graphql(`
  query Organizations {
    organizations { id name type }
  }
`);

export const SearchPatientsQuery = graphql(`
  query SearchPatients($name: String, $birthDate: Date, $identifier: String, $first: Int, $after: String) {
    searchPatients(name: $name, birthDate: $birthDate, identifier: $identifier, first: $first, after: $after) {
      edges {
        cursor
        node {
          id
          name { text }
          birthDate
          gender
          identifiers { system value type assigner { name } }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const PatientHeaderQuery = graphql(`
  query PatientHeader($id: ID!) {
    patient(id: $id) {
      id
      name { text }
      birthDate
      gender
      telecom { system value }
      address { line city }
      identifiers { value type assigner { name } }
    }
  }
`);

export const PatientTimelineQuery = graphql(`
  query PatientTimeline($id: ID!, $first: Int, $after: String, $kinds: [TimelineKind!], $from: DateTime, $to: DateTime, $withWithheldCount: Boolean!) {
    patient(id: $id) {
      id
      timeline(first: $first, after: $after, kinds: $kinds, from: $from, to: $to) {
        edges {
          cursor
          kind
          occurredAt
          node {
            __typename
            ... on Encounter { id class status organization { name } reason { code display } sensitivityLabels }
            ... on Condition { id code { code display } clinicalStatus organization { name } sensitivityLabels }
            ... on ClinicalObservation {
              id observationCode: code { coding { system code display } text } observationCategories: categories { coding { code display } }
              observationValue: value { quantity { value comparator unit } codeableConcept { coding { display } text } string boolean integer }
              components { code { coding { display } text } value { quantity { value unit } } } observationStatus: status organization { name } sensitivityLabels
            }
            ... on AllergyIntolerance {
              id substance: code { coding { system code display } text } clinicalStatus verificationStatus criticality allergyCategory: category
              reactions { manifestations { coding { display } text } severity } organization { name } sensitivityLabels
            }
            ... on Procedure {
              id procedureCode: code { coding { system code display } text } procedureStatus: status performedPeriod { start end }
              procedureBodySite: bodySite { coding { display } text } procedureOutcome: outcome { coding { display } text }
              procedureLocation: location { display } organization { name } sensitivityLabels
            }
            ... on Referral { id referralStatus: status reason { code display } requester { name } performer { name } }
            ... on Observation { id code { code display } valueQuantity { value unit } valueString interpretation { code } organization { name } sensitivityLabels }
            ... on DiagnosticReport { id category code { display } conclusion organization { name } sensitivityLabels }
            ... on ImagingStudy { id modality { code display } bodySite { display } description organization { name } report { impression } sensitivityLabels }
            ... on Immunization { id vaccineCode { code display } doseNumber organization { name } }
            ... on ProgramEnrollment { id status program { name } organization { name } }
            ... on FollowUpTask { id taskDescription: description taskStatus: status dueDate organization { name } }
            ... on CarePlan {
              id carePlanStatus: status intent carePlanCategory: category { coding { display } text } carePlanPeriod: period { start end }
              activity { code { coding { display } text } status } organization { name } sensitivityLabels
            }
            ... on CareTeam {
              id careTeamStatus: status participant { role { coding { display } text } member { reference display identifier { value } } }
              careTeamReason: reasonCode { coding { display } text } organization { name } sensitivityLabels
            }
            ... on HomeMeasurement { id kind systolic diastolic value unit }
            ... on MedicationRequest {
              id status intent medication { coding { system code display } text } medicationReference { code { coding { system code display } text } }
              dosageInstruction { text } organization { name } sensitivityLabels
            }
            ... on MedicationAdministration {
              id status medication { coding { system code display } text } medicationReference { code { coding { system code display } text } }
              givenDose: dosage { text dose { value unit } } organization { name } sensitivityLabels
            }
            ... on MedicationStatement {
              id status medication { coding { system code display } text } medicationReference { code { coding { system code display } text } }
              takenDosage: dosage { text } organization { name } sensitivityLabels
            }
            ... on ClinicalNote {
              id title noteType: type { coding { system code display } text } status date
              author { name { text } } organization { name } noteText: text sensitivityLabels
            }
          }
        }
        pageInfo { hasNextPage endCursor }
        withheldCount @include(if: $withWithheldCount)
      }
    }
  }
`);

export const AccessLogQuery = graphql(`
  query AccessLog($id: ID!, $first: Int, $after: String) {
    patient(id: $id) {
      id
      accessLog(first: $first, after: $after) {
        edges {
          cursor
          node { id occurredAt actorSub actorRole actorOrganization { name } clientId categories purposeOfUse breakGlass breakGlassReason }
        }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`);

export const ConsentsQuery = graphql(`
  query Consents($id: ID!) {
    patient(id: $id) {
      id
      consents { id decision actorType actorId categories labels purposes periodStart periodEnd createdAt revokedAt active status confirmation recordedBy recordedAtOrganization { name } approvedScope app { name organization { name } } }
    }
  }
`);

export const GrantConsentMutation = graphql(`
  mutation GrantConsent($input: ConsentProvisionInput!) {
    grantConsent(input: $input) { id decision actorType actorId categories active }
  }
`);

export const ApproveConsentRequestMutation = graphql(`
  mutation ApproveConsentRequest($id: ID!) {
    approveConsentRequest(id: $id) { id status active }
  }
`);

export const DeclineConsentRequestMutation = graphql(`
  mutation DeclineConsentRequest($id: ID!) {
    declineConsentRequest(id: $id) { id status active }
  }
`);

export const RevokeConsentMutation = graphql(`
  mutation RevokeConsent($id: ID!) {
    revokeConsent(id: $id) { id revokedAt active }
  }
`);
