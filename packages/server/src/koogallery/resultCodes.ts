/**
 * Every marketplace code the server speaks, in one place: the result codes it answers on the production
 * interface (000xxx), and the codes KooGallery's open APIs answer it with (9202xxxx for license code 2.0,
 * MKT.xxxx for the order query, CBC.xxxx for the License file upload).
 */

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

/** `error_code` of the license code 2.0 open APIs (activate, query, report usage). */
export const LICENSE_API = {
  success: '92020000',
  internal: '92020001',
  invalidParam: '92020002',
  /** Activating a code that is already active ("illegal state"). */
  alreadyActivated: '92020003',
  /** The buyer has not received the code yet: it cannot be activated. */
  notReceived: '92020004',
  noSuchCode: '92020005',
  notActivated: '92020011',
  /** A batch holds an invalid code (the whole batch is refused). */
  invalidCodeInBatch: '92020020',
} as const;

/** Prefix shared by every license code 2.0 business answer (an HTTP error with it is still a business answer). */
export const LICENSE_API_PREFIX = '9202';

/** `resultCode` of the order query API (queryOrder). */
export const ORDER_API = { success: 'MKT.0000' } as const;

/** `error_code` of the License file upload API (updateLicenseFile). */
export const FILE_API = { success: 'CBC.0000' } as const;

/** The success codes of every exchange, as the message log records them (inbound and outbound). */
export const SUCCESS_CODES: readonly string[] = [
  RESULT.success,
  RESULT.processing,
  LICENSE_API.success,
  FILE_API.success,
  ORDER_API.success,
];

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
