/** Result codes the merchant returns on the production interface (spec §4). */
export const RESULT = {
  success: '000000',
  authFailed: '000001',
  invalidParam: '000002',
  notFound: '000003',
  processing: '000004',
  internal: '000005',
  noResource: '000100',
  quotaExhausted: '000900',
  outsideOrderWindow: '000901',
  expiryRequired: '000902',
  fingerprintRequired: '000903',
} as const;

export type ResultCode = (typeof RESULT)[keyof typeof RESULT];

export interface Answer {
  resultCode: ResultCode;
  resultMsg: string;
  [extra: string]: unknown;
}

export const ok = (extra: Record<string, unknown> = {}, msg = 'success.'): Answer => ({
  resultCode: RESULT.success,
  resultMsg: msg,
  ...extra,
});

export const fail = (resultCode: ResultCode, resultMsg: string, extra: Record<string, unknown> = {}): Answer => ({
  resultCode,
  resultMsg,
  ...extra,
});
