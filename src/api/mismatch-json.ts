import type { EvidenceItem, Mismatch, MismatchKind, MismatchStatus } from '../domain.js';

/** A mismatch as the operator API serves it: ISO-8601 times, `null` for what is not known. */
export interface MismatchJson {
  id: number;
  kind: MismatchKind;
  status: MismatchStatus;
  userID: string;
  platformID: number | null;
  platform: string;
  detectedAt: string;
  occurredAfter: string | null;
  occurredBefore: string | null;
  /** The corrective event, when one was published. */
  eventSeq: number | null;
  /** For late_webhook: how long after the correction the webhook came, and when. */
  lateByMs: number | null;
  lateAt: string | null;
  /** Recorded in shadow mode: nothing was published. */
  shadow: boolean;
  note: string;
  updatedAt: string;
  evidence: (Omit<EvidenceItem, 'at'> & { at: string })[];
}

const iso = (t: number): string => new Date(t).toISOString();
const isoOrNull = (t: number | null): string | null => (t === null ? null : iso(t));

export function mismatchToJson(m: Mismatch): MismatchJson {
  return {
    id: m.id,
    kind: m.kind,
    status: m.status,
    userID: m.userID,
    platformID: m.platformID,
    platform: m.platform,
    detectedAt: iso(m.detectedAt),
    occurredAfter: isoOrNull(m.occurredAfter),
    occurredBefore: isoOrNull(m.occurredBefore),
    eventSeq: m.eventSeq,
    lateByMs: m.lateByMs,
    lateAt: isoOrNull(m.lateAt),
    shadow: m.shadow,
    note: m.note,
    updatedAt: iso(m.updatedAt),
    evidence: m.evidence.map((e) => ({ ...e, at: iso(e.at) })),
  };
}

/** `GET /v1/mismatches` */
export interface MismatchPage {
  mismatches: MismatchJson[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  next: number | null;
}
