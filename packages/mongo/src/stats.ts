import type { ClusterStat } from '@taskq/core';
import type { MongoConnection } from './connection.js';

/** A cluster heartbeat in `<prefix>_stats`: one document per key, hidden once expiresAt passes. */
interface StatDoc {
  _id: string;
  stat: ClusterStat;
  expiresAt: Date;
}

/** Upserts the heartbeat with its expiry; the TTL index deletes it later, reads hide it at once. */
export async function setStat(connection: MongoConnection, key: string, stat: ClusterStat, ttlSeconds: number) {
  await connection.ensureIndexes('stats');
  const expiresAt = new Date(Date.now() + Math.max(1, Math.round(ttlSeconds * 1000)));
  // the stat as plain JSON data: what the dashboard and `taskq monitor` read back
  const plain = JSON.parse(JSON.stringify(stat)) as ClusterStat;
  await connection
    .collection<StatDoc>('stats')
    .updateOne({ _id: key }, { $set: { stat: plain, expiresAt } }, { upsert: true });
}

export async function getStats(connection: MongoConnection): Promise<ClusterStat[]> {
  const docs = await connection
    .collection<StatDoc>('stats')
    .find({ expiresAt: { $gt: new Date() } })
    .sort({ _id: 1 })
    .toArray();
  return docs.map((doc) => doc.stat);
}

export async function deleteStat(connection: MongoConnection, key: string): Promise<void> {
  await connection.collection<StatDoc>('stats').deleteOne({ _id: key });
}
