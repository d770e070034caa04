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
