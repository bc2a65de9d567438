/**
 * Cursor paging over a Relay connection: loads the first page, then the next
 * one after the last `endCursor` on demand (infinite scroll), keeping each
 * entry's field errors with it. Variables changing start over.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { AnyVariables, CombinedError, TypedDocumentNode } from 'urql';
import { useClient } from 'urql';
import { errorsByEdge, fieldErrors, type FieldError, type Path } from './errors';

interface Connection<Edge> {
  edges: Edge[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export interface Entry<Edge> {
  edge: Edge;
  errors: FieldError[];
}

export interface ConnectionState<Data, Edge> {
  entries: Entry<Edge>[];
  /** The first page's data (for fields beside the list, such as withheldCount). */
  first: Data | undefined;
  hasNextPage: boolean;
  loading: boolean;
  /** Errors not about one entry (the whole query, or the field holding the list). */
  errors: FieldError[];
  networkError: string | null;
  /** The latest response's extensions (e.g. emergencyAccess). */
  extensions: Record<string, any> | undefined;
  loadMore(): void;
  reload(): void;
}

export function useConnection<Data, Variables extends AnyVariables & { after?: string | null }, Edge>(
  document: TypedDocumentNode<Data, Variables>,
  variables: Omit<Variables, 'after'> | null,
  select: (data: Data | undefined) => Connection<Edge> | null | undefined,
  connectionPath: Path,
): ConnectionState<Data, Edge> {
  const client = useClient();
  const [entries, setEntries] = useState<Entry<Edge>[]>([]);
  const [first, setFirst] = useState<Data | undefined>(undefined);
  const [pageInfo, setPageInfo] = useState<{ hasNextPage: boolean; endCursor: string | null }>({ hasNextPage: false, endCursor: null });
  const [loading, setLoading] = useState(false);
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [networkError, setNetworkError] = useState<string | null>(null);
  const [extensions, setExtensions] = useState<Record<string, any> | undefined>(undefined);
  const [generation, setGeneration] = useState(0);
  const key = JSON.stringify(variables);
  // Responses of an older query (variables changed meanwhile) are dropped.
  const current = useRef({ key, generation, inFlight: false });

  const load = useCallback(async (after: string | null, reset: boolean) => {
    if (!variables) return;
    const token = { key, generation };
    current.current = { ...token, inFlight: true };
    setLoading(true);
    const result = await client.query(document, { ...variables, after } as unknown as Variables, { requestPolicy: 'network-only' }).toPromise();
    if (current.current.key !== token.key || current.current.generation !== token.generation) return;
    current.current.inFlight = false;
    setLoading(false);
    setExtensions(result.extensions as Record<string, any> | undefined);
    const all = fieldErrors(result.error as CombinedError | undefined);
    setNetworkError(result.error?.networkError ? result.error.networkError.message : null);
    const connection = select(result.data);
    const edges = connection?.edges ?? [];
    const perEdge = errorsByEdge(all, connectionPath, edges.length);
    const fresh = edges.map((edge, i) => ({ edge, errors: perEdge[i] ?? [] }));
    const pageLevel = all.filter((e) => !(e.path.length > connectionPath.length + 1 && e.path[connectionPath.length] === 'edges'
      && connectionPath.every((part, i) => e.path[i] === part)));
    setErrors((previous) => (reset ? pageLevel : [...previous, ...pageLevel]));
    setEntries((previous) => (reset ? fresh : [...previous, ...fresh]));
    if (reset) setFirst(result.data);
    setPageInfo(connection?.pageInfo ?? { hasNextPage: false, endCursor: null });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, document, key, generation]);

  useEffect(() => {
    setEntries([]);
    setFirst(undefined);
    setErrors([]);
    setPageInfo({ hasNextPage: false, endCursor: null });
    void load(null, true);
  }, [load]);

  const loadMore = useCallback(() => {
    if (current.current.inFlight || !pageInfo.hasNextPage) return;
    void load(pageInfo.endCursor, false);
  }, [load, pageInfo]);

  return {
    entries, first, hasNextPage: pageInfo.hasNextPage, loading, errors, networkError, extensions, loadMore,
    reload: () => setGeneration((g) => g + 1),
  };
}
