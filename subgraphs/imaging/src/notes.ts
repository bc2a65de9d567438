/** What the imaging subgraph derives from a clinical note as stored (migration 006): its text to read and a title to show. */
import { Buffer } from 'node:buffer';

type Row = Record<string, any>;
interface StoredAttachment { contentType?: string | null; data?: string | null; title?: string | null }

/** Whether an attachment is text a reader can show (text/plain, text/markdown…; not HTML, which is not shown raw). */
const isText = (contentType: string | null | undefined) => typeof contentType === 'string' && /^text\/(plain|markdown)\b/i.test(contentType.trim());

/** The note's text: every text attachment stored with it, decoded as UTF-8, in order; null when it has none. */
export function noteText(attachments: StoredAttachment[] | null | undefined): string | null {
  const texts = (attachments ?? []).filter((a) => isText(a.contentType) && typeof a.data === 'string').map((a) => Buffer.from(a.data!, 'base64').toString('utf8'));
  return texts.length ? texts.join('\n\n') : null;
}

/** A title to show: the description, the first attachment's title, the type's text or first display. */
export function noteTitle(row: Row): string | null {
  const attachments = (row.attachments ?? []) as StoredAttachment[];
  const type = row.type as { coding?: { display?: string | null }[]; text?: string | null } | null;
  return row.description ?? attachments.find((a) => a.title)?.title ?? type?.text ?? type?.coding?.find((c) => c.display)?.display ?? null;
}
