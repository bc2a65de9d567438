/**
 * Which fields of the export's GraphQL results consent withheld: a field
 * that came back null with CONSENT_DENIED or FORBIDDEN (collect.ts marks
 * them), as opposed to one that was simply not recorded. The mapping omits
 * a withheld element or marks it `masked`.
 */
export class Masks {
  private readonly fields = new WeakMap<object, Set<string>>();

  mark(parent: object, field: string): void {
    const set = this.fields.get(parent) ?? new Set<string>();
    set.add(field);
    this.fields.set(parent, set);
  }

  /** Whether `field` of `parent` was withheld (as opposed to absent). */
  has(parent: object | null | undefined, field: string): boolean {
    return Boolean(parent && this.fields.get(parent)?.has(field));
  }

  /** Whether any field of `parent` was withheld. */
  any(parent: object | null | undefined): boolean {
    return Boolean(parent && this.fields.get(parent)?.size);
  }
}
