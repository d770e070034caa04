/**
 * Renderer-safe texts: no `node:` imports here or in what this module imports, so an Electron renderer or a
 * browser bundle can show license states and check typed codes without Node. Exported as
 * `@licensor/client/messages`.
 */

import type { ErrorCode, LicenseCode } from '@licensor/shared';
import {
  isValidLicenseCode,
  type LicenseCodeKind,
  licenseCodeKind,
  normalizeLicenseCode,
} from '@licensor/shared/licenseCode';

export type Language = 'en' | 'zh';

export interface StatusText {
  /** What happened, one short sentence. */
  title: string;
  /** What the user should do next. Empty when nothing is needed. */
  action: string;
}

type Texts = Record<Language, StatusText>;

/** Every license verdict has a text (the Record type makes a missing one a compile error). */
const LICENSE_TEXTS: Record<LicenseCode, Texts> = {
  VALID: {
    en: { title: 'The license is valid.', action: '' },
    zh: { title: '许可证有效。', action: '' },
  },
  NO_LICENSE: {
    en: {
      title: 'This device is not activated.',
      action: 'Enter your license code to activate, or import a License file.',
    },
    zh: { title: '此设备尚未激活。', action: '请输入授权码激活，或导入 License 文件。' },
  },
  NOT_FOUND: {
    en: {
      title: 'The license server does not know this license code or activation.',
      action: 'Check the code for typos; if the seat was freed, activate again.',
    },
    zh: {
      title: '许可证服务器上找不到此授权码或激活记录。',
      action: '请检查授权码是否输入正确；如果席位已被释放，请重新激活。',
    },
  },
  SUSPENDED: {
    en: { title: 'The license has been suspended by the vendor.', action: 'Contact the vendor to have it reinstated.' },
    zh: { title: '许可证已被软件商暂停。', action: '请联系软件商恢复许可证。' },
  },
  EXPIRED: {
    en: { title: 'The license has expired.', action: 'Renew the subscription, then check in again.' },
    zh: { title: '许可证已过期。', action: '请续费后重新联网校验。' },
  },
  FROZEN: {
    en: {
      title: 'The license is frozen by the marketplace.',
      action: 'Settle the order on KooGallery; it unlocks at the next check-in.',
    },
    zh: { title: '许可证已被云商店冻结。', action: '请在云商店处理订单，下次联网校验时将自动解冻。' },
  },
  REVOKED: {
    en: { title: 'The license has been revoked.', action: 'Contact the vendor if you believe this is a mistake.' },
    zh: { title: '许可证已被吊销。', action: '如有疑问，请联系软件商。' },
  },
  RELEASED: {
    en: {
      title: 'The license was released (the order ended or this seat was freed).',
      action: 'Purchase or activate a license again.',
    },
    zh: { title: '许可证已释放（订单已结束或此席位已被释放）。', action: '请重新购买或重新激活许可证。' },
  },
  TOO_MANY_DEVICES: {
    en: {
      title: 'All seats of this license are in use.',
      action: 'Free a seat you no longer use (list the devices of the code), then activate again.',
    },
    zh: { title: '此许可证的席位已全部占用。', action: '请释放不再使用的设备席位，然后重新激活。' },
  },
  FINGERPRINT_MISMATCH: {
    en: {
      title: 'The license belongs to another device (the hardware changed too much).',
      action: 'Activate again online; if no seat is free, release the old device first.',
    },
    zh: { title: '许可证属于另一台设备（硬件变化过大）。', action: '请联网重新激活；如无空闲席位，请先释放旧设备。' },
  },
  PRODUCT_MISMATCH: {
    en: { title: 'The License file is for another product.', action: 'Use the License file issued for this product.' },
    zh: { title: 'License 文件属于其他产品。', action: '请使用为本产品签发的 License 文件。' },
  },
  FILE_SIGNATURE_INVALID: {
    en: {
      title: 'The License file is damaged or was not issued by the vendor.',
      action: 'Activate again, or ask the vendor for a new License file.',
    },
    zh: { title: 'License 文件已损坏或并非由软件商签发。', action: '请重新激活，或向软件商索取新的 License 文件。' },
  },
  FILE_EXPIRED: {
    en: {
      title: 'The License file must be refreshed.',
      action: 'Connect to the internet so the application can check in.',
    },
    zh: { title: 'License 文件需要更新。', action: '请连接网络，以便应用联网校验。' },
  },
  NOT_YET_VALID: {
    en: {
      title: 'The license is not valid yet.',
      action: 'Wait until its start date, or check that the system clock is correct.',
    },
    zh: { title: '许可证尚未生效。', action: '请等到生效日期，或检查系统时间是否正确。' },
  },
  TIME_MODIFIED: {
    en: {
      title: 'The system clock was set back.',
      action: 'Set the correct date and time, then connect to the internet so the application can check in.',
    },
    zh: { title: '检测到系统时间被回调。', action: '请设置正确的日期和时间，并连接网络以便应用联网校验。' },
  },
  GRACE_PERIOD_OVER: {
    en: {
      title: 'The offline grace period is over.',
      action: 'Connect to the internet so the application can check in.',
    },
    zh: { title: '离线宽限期已结束。', action: '请连接网络，以便应用联网校验。' },
  },
  STATE_TAMPERED: {
    en: {
      title: 'The local license data was modified or copied from another device.',
      action: 'Activate again online (this replaces the local data).',
    },
    zh: { title: '本地许可证数据被修改，或是从其他设备复制而来。', action: '请联网重新激活（将替换本地数据）。' },
  },
  VM_NOT_ALLOWED: {
    en: {
      title: 'This license may not be used in a virtual machine or container.',
      action: 'Install the application on a physical machine, or ask the vendor for a license that allows VMs.',
    },
    zh: {
      title: '此许可证不允许在虚拟机或容器中使用。',
      action: '请在物理机上安装应用，或向软件商申请允许虚拟机的许可证。',
    },
  },
  USER_NOT_AUTHORIZED: {
    en: {
      title: 'Your account is not authorised to use this license.',
      action: "Ask your organisation's administrator to grant you access.",
    },
    zh: { title: '您的账号无权使用此许可证。', action: '请联系贵组织的管理员为您授权。' },
  },
};

/** Operation failures a user can meet (network, input, server answers); the rest fall back to a generic text. */
const ERROR_TEXTS: Partial<Record<ErrorCode, Texts>> = {
  SERVER_UNREACHABLE: {
    en: {
      title: 'The license server cannot be reached.',
      action: 'Check the internet connection; the license keeps working offline until its grace period ends.',
    },
    zh: { title: '无法连接许可证服务器。', action: '请检查网络连接；在宽限期结束前，许可证可离线继续使用。' },
  },
  RESPONSE_INVALID: {
    en: {
      title: 'The license server sent an answer that could not be verified.',
      action: 'Check that the server address is correct and that no proxy alters the traffic.',
    },
    zh: { title: '许可证服务器的响应无法通过校验。', action: '请确认服务器地址正确，且没有代理篡改通信内容。' },
  },
  REPLAYED: {
    en: {
      title: 'The answer of the license server is outside the allowed time window.',
      action: 'Set the correct date and time on this device, then retry.',
    },
    zh: { title: '许可证服务器的响应超出允许的时间窗口。', action: '请校准此设备的日期和时间后重试。' },
  },
  INVALID_INPUT: {
    en: { title: 'The input is not valid.', action: 'Check the value and try again.' },
    zh: { title: '输入无效。', action: '请检查输入后重试。' },
  },
  RATE_LIMITED: {
    en: { title: 'Too many attempts.', action: 'Wait a few minutes, then try again.' },
    zh: { title: '尝试次数过多。', action: '请等待几分钟后重试。' },
  },
  TRANSFER_LIMIT_REACHED: {
    en: {
      title: 'Seats of this license were moved too often recently.',
      action: 'Wait until the transfer window resets, or contact the vendor.',
    },
    zh: { title: '此许可证近期转移席位次数过多。', action: '请等待转移次数限制重置，或联系软件商。' },
  },
  MARKETPLACE_UNAVAILABLE: {
    en: { title: 'KooGallery could not be reached by the license server.', action: 'Try again in a few minutes.' },
    zh: { title: '许可证服务器暂时无法连接云商店。', action: '请几分钟后重试。' },
  },
  MARKETPLACE_REJECTED: {
    en: { title: 'KooGallery rejected this license code.', action: 'Check the code and its order on KooGallery.' },
    zh: { title: '云商店拒绝了此授权码。', action: '请在云商店核对授权码及其订单。' },
  },
  MARKETPLACE_NOT_CONFIGURED: {
    en: {
      title: "The vendor's license server is not set up to confirm KooGallery license codes.",
      action: 'This is not a problem with your code. Contact the vendor; trying again will not help until they fix it.',
    },
    zh: {
      title: '软件商的许可证服务器尚未配置云商店授权码校验。',
      action: '这不是您的授权码的问题。请联系软件商；在其修复之前重试无效。',
    },
  },
  FILE_MALFORMED: {
    en: { title: 'The file is not a valid Licensor file.', action: 'Check that you picked the right file.' },
    zh: { title: '该文件不是有效的 Licensor 文件。', action: '请确认选择了正确的文件。' },
  },
  FILE_TOO_LARGE: {
    en: { title: 'The file is too large to be a Licensor file.', action: 'Check that you picked the right file.' },
    zh: { title: '文件过大，不是 Licensor 文件。', action: '请确认选择了正确的文件。' },
  },
  KEY_NOT_FOUND: {
    en: {
      title: 'The device key of this activation is missing.',
      action: 'Activate again online to create a new device key.',
    },
    zh: { title: '此激活的设备密钥丢失。', action: '请联网重新激活以生成新的设备密钥。' },
  },
  STORAGE_UNAVAILABLE: {
    en: {
      title: 'The local license data cannot be read or written.',
      action: 'Check the permissions and free space of the data folder.',
    },
    zh: { title: '无法读写本地许可证数据。', action: '请检查数据目录的权限和剩余空间。' },
  },
};

const FALLBACK: Texts = {
  en: { title: 'An unexpected error occurred.', action: 'Try again; if it persists, contact the vendor.' },
  zh: { title: '发生意外错误。', action: '请重试；如问题持续，请联系软件商。' },
};

/** Title and next step for a status or error code (unknown codes get a generic text). */
export function statusText(code: string, lang: Language = 'en'): StatusText {
  const texts =
    (LICENSE_TEXTS as Record<string, Texts>)[code] ?? (ERROR_TEXTS as Record<string, Texts>)[code] ?? FALLBACK;
  return texts[lang] ?? texts.en;
}

/** One sentence (title + next step) for showing a status or error code to a person. */
export function describeStatus(code: string, lang: Language = 'en'): string {
  const { title, action } = statusText(code, lang);
  return action ? `${title} ${action}` : title;
}

// ---- plurals and durations -------------------------------------------------------------------------------

/**
 * Forms of a counted phrase, chosen like ICU MessageFormat: an exact form (`=0`, `=1`) first, then the
 * language's plural category from Intl.PluralRules (English: one/other; Chinese has only other), then `other`.
 * `{n}` is replaced by the count.
 */
export interface PluralForms {
  '=0'?: string;
  '=1'?: string;
  one?: string;
  other: string;
}

const PLURAL_LOCALE: Record<Language, string> = { en: 'en', zh: 'zh-CN' };

export function plural(lang: Language, n: number, forms: PluralForms): string {
  const exact = n === 0 ? forms['=0'] : n === 1 ? forms['=1'] : undefined;
  const category = new Intl.PluralRules(PLURAL_LOCALE[lang]).select(n);
  const text = exact ?? (category === 'one' ? forms.one : undefined) ?? forms.other;
  return text.replace(/\{n\}/g, String(n));
}

/** "a, b and c" / "a、b和c" (Intl.ListFormat). */
export function listOf(lang: Language, items: readonly string[]): string {
  return new Intl.ListFormat(PLURAL_LOCALE[lang], { style: 'long', type: 'conjunction' }).format(items);
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const DURATION = {
  en: {
    days: { one: '{n} day', other: '{n} days' },
    hours: { one: '{n} hour', other: '{n} hours' },
    underAnHour: 'less than an hour',
  },
  zh: { days: { other: '{n} 天' }, hours: { other: '{n} 小时' }, underAnHour: '不到 1 小时' },
} satisfies Record<Language, { days: PluralForms; hours: PluralForms; underAnHour: string }>;

/**
 * A remaining time as people say it: "12 days", "1 day", "5 hours", "less than an hour" ("12 天"…). Days are
 * rounded (a 21-day grace read a second after it started is still 21 days), hours likewise under a day.
 */
export function remainingTime(ms: number, lang: Language = 'en'): string {
  const d = DURATION[lang];
  if (ms >= DAY_MS) return plural(lang, Math.round(ms / DAY_MS), d.days);
  if (ms >= HOUR_MS) return plural(lang, Math.min(23, Math.round(ms / HOUR_MS)), d.hours);
  return d.underAnHour;
}

// ---- what a failed activation says --------------------------------------------------------------------------

/** Where the message is shown: the license window (buttons) or the `licensor-client` CLI (commands). */
export type Surface = 'window' | 'cli';

/** One clear sentence, one detail line, one next step. */
export interface UserMessage {
  title: string;
  detail: string;
  action: string;
}

export interface ActivationFailure {
  /** The error code (TOO_MANY_DEVICES, NOT_FOUND, SERVER_UNREACHABLE, …). */
  code: string;
  /** The license code that was tried (normalised), when known. */
  licenseCode?: string;
  /** On TOO_MANY_DEVICES: the license's seat count and the devices holding them. */
  seats?: number;
  devices?: ReadonlyArray<{ id: string; name: string }>;
  /** The server's own words: the detail line for codes without a text of their own. */
  serverMessage?: string;
}

type Phrase = string | ((f: ActivationFailure, lang: Language, surface: Surface) => string);
interface ActivationTexts {
  title: Phrase;
  detail: Phrase;
  action: Phrase | Record<Surface, Phrase>;
}

const OTHER_DEVICES: Record<Language, PluralForms> = {
  en: { one: '{n} other device', other: '{n} other devices' },
  zh: { other: '另外 {n} 台设备' },
};

/**
 * The devices holding the seats, at most three by name: names in the window, names and ids in the CLI
 * (release-device needs the id).
 */
function holders(f: ActivationFailure, lang: Language, surface: Surface): string {
  const names = (f.devices ?? []).map((d) => (surface === 'cli' ? `${d.name} (${d.id})` : d.name));
  if (names.length <= 3) return listOf(lang, names);
  return listOf(lang, [...names.slice(0, 3), plural(lang, names.length - 3, OTHER_DEVICES[lang])]);
}

const SEATS_FULL_TITLE: Record<Language, PluralForms> = {
  en: { '=1': 'This license is already in use on another device.', other: 'All {n} seats of this license are in use.' },
  zh: { '=1': '此许可证已在另一台设备上使用。', other: '此许可证的 {n} 个席位已全部占用。' },
};
const SEATS_ALLOWED: Record<Language, PluralForms> = {
  en: {
    '=1': 'This license can be active on one device at a time.',
    other: 'This license can be active on {n} devices at a time.',
  },
  zh: { '=1': '此许可证同一时间只能在 1 台设备上使用。', other: '此许可证同一时间最多可在 {n} 台设备上使用。' },
};

const ACTIVATION_TEXTS: Partial<Record<string, Record<Language, ActivationTexts>>> = {
  NOT_FOUND: {
    en: {
      title: 'This license code was not recognised.',
      detail: (f) =>
        f.licenseCode
          ? `The license server has no license with the code ${f.licenseCode}.`
          : 'The license server has no license with this code.',
      action: 'Compare the code with your order confirmation and enter it again.',
    },
    zh: {
      title: '无法识别此授权码。',
      detail: (f) =>
        f.licenseCode
          ? `许可证服务器上没有授权码为 ${f.licenseCode} 的许可证。`
          : '许可证服务器上没有使用此授权码的许可证。',
      action: '请对照订单确认信息核对授权码后重新输入。',
    },
  },
  TOO_MANY_DEVICES: {
    en: {
      title: (f, lang) => plural(lang, f.seats ?? f.devices?.length ?? 1, SEATS_FULL_TITLE.en),
      detail: (f, lang, surface) => {
        return f.devices?.length
          ? `In use on ${holders(f, lang, surface)}.`
          : plural(lang, f.seats ?? 1, SEATS_ALLOWED.en);
      },
      action: {
        window: 'Free the seat of a device you no longer use (below), then select Activate again.',
        cli: (f) =>
          `Free the seat of a device you no longer use with \`licensor-client release-device ${f.licenseCode ?? '<code>'} ${f.devices?.length === 1 ? f.devices[0]!.id : '<id>'}\`, then activate again.`,
      },
    },
    zh: {
      title: (f, lang) => plural(lang, f.seats ?? f.devices?.length ?? 1, SEATS_FULL_TITLE.zh),
      detail: (f, lang, surface) => {
        return f.devices?.length
          ? `正在使用的设备：${holders(f, lang, surface)}。`
          : plural(lang, f.seats ?? 1, SEATS_ALLOWED.zh);
      },
      action: {
        window: '请在下方释放不再使用的设备的席位，然后再次点击“激活”。',
        cli: (f) =>
          `请用 \`licensor-client release-device ${f.licenseCode ?? '<code>'} ${f.devices?.length === 1 ? f.devices[0]!.id : '<id>'}\` 释放不再使用的设备的席位，然后重新激活。`,
      },
    },
  },
  SERVER_UNREACHABLE: {
    en: {
      title: 'The license server cannot be reached.',
      detail: 'Activation needs a connection to the license server once; after that the application works offline.',
      action: {
        window: 'Check the internet connection and select Activate again, or use the offline activation below.',
        cli: 'Check the internet connection and try again, or activate offline with `licensor-client offline-request`.',
      },
    },
    zh: {
      title: '无法连接许可证服务器。',
      detail: '激活时需要连接许可证服务器一次，之后应用可离线使用。',
      action: {
        window: '请检查网络连接后再次点击“激活”，或使用下方的离线激活。',
        cli: '请检查网络连接后重试，或使用 `licensor-client offline-request` 离线激活。',
      },
    },
  },
  MARKETPLACE_UNAVAILABLE: {
    en: {
      title: 'The code could not be checked with KooGallery just now.',
      detail: 'The license server asked KooGallery about this code and got no answer.',
      action: 'Try again in a few minutes.',
    },
    zh: {
      title: '暂时无法向云商店核验此授权码。',
      detail: '许可证服务器向云商店查询此授权码时没有收到应答。',
      action: '请几分钟后重试。',
    },
  },
  EXPIRED: {
    en: {
      title: 'This license has expired.',
      detail: 'A license can be activated only while its subscription runs.',
      action: {
        window: 'Renew the subscription, then select Activate again.',
        cli: 'Renew the subscription, then activate again.',
      },
    },
    zh: {
      title: '此许可证已过期。',
      detail: '许可证只能在订阅有效期内激活。',
      action: { window: '请续费后再次点击“激活”。', cli: '请续费后重新激活。' },
    },
  },
  FROZEN: {
    en: {
      title: 'This license is frozen by KooGallery.',
      detail: 'KooGallery freezes a license while its order needs attention (for example an unpaid renewal).',
      action: {
        window: 'Settle the order on KooGallery, then select Activate again.',
        cli: 'Settle the order on KooGallery, then activate again.',
      },
    },
    zh: {
      title: '此许可证已被云商店冻结。',
      detail: '订单需要处理时（例如续费未支付），云商店会冻结许可证。',
      action: { window: '请在云商店处理订单后再次点击“激活”。', cli: '请在云商店处理订单后重新激活。' },
    },
  },
};

const pick = (p: Phrase, f: ActivationFailure, lang: Language, surface: Surface) =>
  typeof p === 'function' ? p(f, lang, surface) : p;

/**
 * What to tell a person whose activation (or another license-window action) failed: one sentence, one detail
 * line and one next step, in their language. Codes without a text of their own use the status texts, with the
 * server's words as the detail when they add something.
 */
export function activationErrorText(
  f: ActivationFailure,
  lang: Language = 'en',
  surface: Surface = 'window',
): UserMessage {
  const texts = ACTIVATION_TEXTS[f.code]?.[lang];
  if (texts) {
    const action = typeof texts.action === 'object' ? texts.action[surface] : texts.action;
    return {
      title: pick(texts.title, f, lang, surface),
      detail: pick(texts.detail, f, lang, surface),
      action: pick(action, f, lang, surface),
    };
  }
  const { title, action } = statusText(f.code, lang);
  const said = f.serverMessage?.trim() ?? '';
  return { title, detail: said && said !== title && said !== action ? said : '', action };
}

export interface LicenseCodeHint {
  /** The code as it will be sent (trimmed, upper-cased, look-alike characters fixed for LSR codes). */
  normalized: string;
  kind: LicenseCodeKind;
  /** Whether the code is well formed (LSR codes: check symbol correct). Unknown shapes are not rejected. */
  plausible: boolean;
  /** A hint for the person typing, or undefined when the code looks right. */
  hint: string | undefined;
}

const HINTS = {
  empty: { en: 'Enter the license code from your order.', zh: '请输入订单中的授权码。' },
  typo: {
    en: 'This code contains a typo (its check character does not match). Compare it with your order.',
    zh: '授权码有误（校验位不匹配），请与订单核对。',
  },
  lsrLength: {
    en: 'Codes look like LSR-XXXXX-XXXXX-XXXXX-XXXXX (20 characters after LSR).',
    zh: '授权码格式为 LSR-XXXXX-XXXXX-XXXXX-XXXXX（LSR 后共 20 个字符）。',
  },
} as const;

/**
 * Checks a license code while it is typed. LSR codes (family A) carry a check symbol, so typos are caught
 * before any request; KooGallery `PL…` codes are only checked for shape. Other shapes are passed to the server
 * unchanged (a merchant may issue its own), so `plausible` stays true for them.
 */
export function licenseCodeHint(input: string, lang: Language = 'en'): LicenseCodeHint {
  const normalized = normalizeLicenseCode(typeof input === 'string' ? input : '');
  const kind = licenseCodeKind(normalized);
  if (normalized === '') return { normalized, kind, plausible: false, hint: HINTS.empty[lang] };
  if (kind === 'lsr') {
    const ok = isValidLicenseCode(normalized);
    return { normalized, kind, plausible: ok, hint: ok ? undefined : HINTS.typo[lang] };
  }
  if (kind === 'unknown' && /^LSR/.test(normalized.replace(/[\s_-]/g, ''))) {
    return { normalized, kind, plausible: false, hint: HINTS.lsrLength[lang] };
  }
  return { normalized, kind, plausible: true, hint: undefined };
}
