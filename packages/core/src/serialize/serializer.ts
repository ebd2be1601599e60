/**
 * A Serializer turns task messages, arguments and results into text and back.
 * The text is what brokers carry (inside a signed package) and what stores keep,
 * so it should be readable by a person looking at the dashboard.
 */
export interface Serializer {
  /** Short stable name, e.g. `tagged-json`. */
  readonly name: string;
  /** Throws TaskqError `TASKQ_NOT_SERIALIZABLE` for values it cannot encode. */
  serialize(value: unknown): string;
  /** Throws TaskqError `TASKQ_BAD_PACKAGE` for text it cannot decode. */
  deserialize(text: string): unknown;
}
