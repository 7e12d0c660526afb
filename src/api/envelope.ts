import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { ErrorCode } from '../errors/index.js';

/**
 * Every API response has the same envelope, familiar to Cloudflare API users:
 * `{ success, errors: [{ code, message }], messages, result }`.
 */
export const ErrorItem = Type.Object({ code: Type.String(), message: Type.String() });
/**
 * One error as the server writes it: `code` is from the closed catalogue (src/errors/codes.ts), so
 * a typo fails tsc. The schema says string: clients must expect codes added later.
 */
export interface ErrorItem {
  code: ErrorCode;
  message: string;
}

export const Envelope = <T extends TSchema>(result: T) =>
  Type.Object({
    success: Type.Boolean(),
    errors: Type.Array(ErrorItem),
    messages: Type.Array(Type.String()),
    result,
  });

export const ResultInfo = Type.Object({
  page: Type.Integer(),
  per_page: Type.Integer(),
  count: Type.Integer(),
  total_count: Type.Integer(),
});

export const ListEnvelope = <T extends TSchema>(item: T) =>
  Type.Object({
    success: Type.Boolean(),
    errors: Type.Array(ErrorItem),
    messages: Type.Array(Type.String()),
    result: Type.Array(item),
    result_info: ResultInfo,
  });

export const ErrorEnvelope = Type.Object({
  success: Type.Literal(false),
  errors: Type.Array(ErrorItem),
  messages: Type.Array(Type.String()),
  result: Type.Null(),
});

export const Pagination = Type.Object({
  page: Type.Integer({ minimum: 1, default: 1 }),
  per_page: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
});
export type Pagination = Static<typeof Pagination>;

export const ok = <T>(result: T) => ({ success: true as const, errors: [], messages: [], result });

export const okList = <T>(items: T[], total: number, page: Pagination) => ({
  success: true as const,
  errors: [],
  messages: [],
  result: items,
  result_info: { page: page.page, per_page: page.per_page, count: items.length, total_count: total },
});

export const failure = (errors: ErrorItem[]) => ({
  success: false as const,
  errors,
  messages: [],
  result: null,
});

export const toPage = (q: Pagination) => ({ page: q.page, perPage: q.per_page });
