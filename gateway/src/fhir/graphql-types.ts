/**
 * Shapes of the GraphQL values every export reads; each resource module
 * (resources/) declares the shape of its own records beside its selection.
 * Every field a consent rule may withhold is nullable, as it is on the wire:
 * the mapping must cope with a null that means "withheld" (an error at that
 * path) as well as one that means "not recorded".
 */

export interface GqlCoding { system: string; code: string; display: string | null }
export interface GqlOrganization { id: string; name: string | null; active?: boolean | null; lastUpdated?: string | null }
export interface GqlHumanName { family: string; given: string[]; text: string; use?: string | null }
export interface GqlPractitioner { id: string; name: GqlHumanName | null; active?: boolean | null; lastUpdated?: string | null }
export interface GqlPeriod { start: string | null; end: string | null }
export interface GqlProgram { id: string; code: string; name: string }
