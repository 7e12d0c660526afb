import { api } from '../../api';
import type { PostureResult, PostureRule } from '../../types';

// Device posture (issue #6): client-certificate rules and Logs > Posture.

export async function listPostureRules(): Promise<PostureRule[]> {
  return api.get<PostureRule[]>('/devices/posture');
}

/**
 * Pass rate per UTC day over the last `days` days, null on days without results. Two counts per
 * day from the logs' `total_count` (all, and passes): exact however many results there are.
 */
export async function postureDailyPassRate(days: number): Promise<{ day: string; rate: number | null }[]> {
  const DAY = 86_400_000;
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const count = async (query: string) =>
    (await api.list<PostureResult>(`/devices/posture/logs?per_page=1&${query}`)).info?.total_count ?? 0;
  return Promise.all(
    Array.from({ length: days }, async (_, i) => {
      const from = new Date(today - (days - 1 - i) * DAY);
      const q = `since=${from.toISOString()}&until=${new Date(from.getTime() + DAY).toISOString()}`;
      const [all, passed] = await Promise.all([count(q), count(`${q}&result=pass`)]);
      return { day: from.toISOString().slice(0, 10), rate: all ? (100 * passed) / all : null };
    }),
  );
}
