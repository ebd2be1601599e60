/** A Sentry envelope: a header line, then item header / item payload pairs (newline-delimited JSON). */
export interface EnvelopeItem {
  type: string;
  payload: Record<string, unknown>;
}

export function parseEnvelope(body: string): { header: Record<string, unknown>; items: EnvelopeItem[] } {
  const lines = body.split('\n').filter((line) => line.length > 0);
  const header = JSON.parse(lines[0] as string) as Record<string, unknown>;
  const items: EnvelopeItem[] = [];
  for (let i = 1; i + 1 < lines.length; i += 2) {
    const itemHeader = JSON.parse(lines[i] as string) as { type: string };
    items.push({ type: itemHeader.type, payload: JSON.parse(lines[i + 1] as string) as Record<string, unknown> });
  }
  return { header, items };
}
