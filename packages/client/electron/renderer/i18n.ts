/**
 * Interface strings of the license window in English and Chinese. Status and error texts come from the
 * client library's messages module (statusText); these are the window's own words.
 */
import { type Language, type PluralForms, plural } from '../../src/messages';

const en = {
  documentTitle: 'License',
  switchLanguage: '中文',
  switchLanguageLabel: '切换到中文',
  activateHeading: 'Activate this application',
  activateIntro: 'Enter the license code from your order to activate this computer. You need to be online once.',
  codeLabel: 'License code',
  codeFormat: 'It looks like LSR-XXXXX-XXXXX-XXXXX-XXXXX, or starts with PL for KooGallery license codes.',
  activate: 'Activate',
  activating: 'Activating… contacting the license server.',
  errorHeading: 'Activation did not succeed',
  serverSays: 'Details: {message}',
  retryHint: 'When you are back online, select Activate again, or use the offline activation below.',
  devicesHeading: 'Devices using this license',
  deviceUnnamed: 'Unnamed device',
  lastSeen: 'last used {date}',
  thisDevice: 'this device',
  freeSeat: 'Free seat of {name}',
  freeSeatShort: 'Free this seat',
  freeing: 'Freeing the seat…',
  freed: 'The seat of {name} is free. Select Activate to use it on this computer.',
  noDevices: 'No device holds a seat any more. Select Activate.',
  offlineHeading: 'No internet on this computer?',
  offlineStep1: 'Enter your license code above, then save an activation request file.',
  offlineStep2: 'Send the file to your vendor from a computer that is online.',
  offlineStep3: 'Import the License file you receive.',
  saveRequest: 'Save request file…',
  importLicense: 'Import License file…',
  requestSaved: 'Saved {file}. Send it to your vendor, then import the License file you get back.',
  requestNotSaved: 'The request file was not saved.',
  needCode: 'Enter the license code first: the request is made for that code.',
  working: 'Working…',
  statusHeading: 'License status',
  valid: 'Valid',
  invalid: 'Needs attention',
  testLicense: 'Test license',
  fieldProduct: 'Product',
  fieldExpires: 'Expires',
  fieldSeats: 'Seats',
  fieldFeatures: 'Features',
  noFeatures: 'None beyond the edition',
  fieldDevice: 'This device',
  fieldLastCheckIn: 'Last check-in',
  fieldGrace: 'Offline grace left',
  perpetual: 'Never (perpetual)',
  never: 'Not yet',
  notApplicable: '—',
  expiresIn: '{date} ({remaining} left)',
  productEdition: '{product}, {edition} edition',
  noLimit: 'No limit (this license does not need to check in)',
  graceOver: 'None left',
  checkIn: 'Check in now',
  checkingIn: 'Checking in…',
  checkedIn: 'Checked in: the license is up to date.',
  openApp: 'Open the application',
  deactivate: 'Deactivate this device',
  deactivateConfirm: 'Deactivate: frees the seat; this computer stops working until activated again',
  deactivateCancel: 'Keep activated',
  deactivated: 'This device is deactivated and its seat is free.',
  useAnotherCode: 'Activate with another code',
  endedOn: 'It ended on {date}.',
  graceWarning: 'The license needs to be checked online soon.',
  graceWarningDetail: 'It keeps working offline for {remaining} more.',
  graceWarningAction: 'Connect to the internet, then select Check in now.',
  expiryWarning: 'The license expires in {remaining}.',
  expiryWarningAction: 'Renew the subscription to keep using the application.',
  expiredNow: 'Expired',
  renewAction: 'Renew the subscription, then select Check in now.',
  settleAction: 'Settle the order on KooGallery, then select Check in now.',
} as const;

export type StringKey = keyof typeof en;

const zh: Record<StringKey, string> = {
  documentTitle: '许可证',
  switchLanguage: 'English',
  switchLanguageLabel: 'Switch to English',
  activateHeading: '激活此应用',
  activateIntro: '请输入订单中的授权码以激活此电脑。激活时需要联网一次。',
  codeLabel: '授权码',
  codeFormat: '格式为 LSR-XXXXX-XXXXX-XXXXX-XXXXX；云商店授权码以 PL 开头。',
  activate: '激活',
  activating: '正在激活…正在连接许可证服务器。',
  errorHeading: '激活未成功',
  serverSays: '详情：{message}',
  retryHint: '恢复联网后请再次点击“激活”，或使用下方的离线激活。',
  devicesHeading: '正在使用此许可证的设备',
  deviceUnnamed: '未命名设备',
  lastSeen: '最近使用：{date}',
  thisDevice: '此设备',
  freeSeat: '释放 {name} 的席位',
  freeSeatShort: '释放此席位',
  freeing: '正在释放席位…',
  freed: '{name} 的席位已释放。请点击“激活”在此电脑上使用。',
  noDevices: '已没有设备占用席位，请点击“激活”。',
  offlineHeading: '此电脑无法联网？',
  offlineStep1: '在上方输入授权码，然后保存激活请求文件。',
  offlineStep2: '在可以联网的电脑上将该文件发送给软件商。',
  offlineStep3: '导入您收到的 License 文件。',
  saveRequest: '保存请求文件…',
  importLicense: '导入 License 文件…',
  requestSaved: '已保存 {file}。请发送给软件商，并导入收到的 License 文件。',
  requestNotSaved: '未保存请求文件。',
  needCode: '请先输入授权码：请求文件针对该授权码生成。',
  working: '处理中…',
  statusHeading: '许可证状态',
  valid: '有效',
  invalid: '需要处理',
  testLicense: '测试许可证',
  fieldProduct: '产品',
  fieldExpires: '到期时间',
  fieldSeats: '席位',
  fieldFeatures: '功能',
  noFeatures: '版本自带功能',
  fieldDevice: '此设备',
  fieldLastCheckIn: '最近联网校验',
  fieldGrace: '离线宽限期剩余',
  perpetual: '永久有效',
  never: '尚未校验',
  notApplicable: '—',
  expiresIn: '{date}（剩余 {remaining}）',
  productEdition: '{product}（{edition}版）',
  noLimit: '不限（此许可证无需联网校验）',
  graceOver: '已用完',
  checkIn: '立即联网校验',
  checkingIn: '正在联网校验…',
  checkedIn: '校验完成：许可证已是最新状态。',
  openApp: '打开应用',
  deactivate: '停用此设备',
  deactivateConfirm: '确认停用：释放席位，此电脑需重新激活后才能使用',
  deactivateCancel: '保持激活',
  deactivated: '此设备已停用，席位已释放。',
  useAnotherCode: '使用其他授权码激活',
  endedOn: '已于 {date} 到期。',
  graceWarning: '许可证需要尽快联网校验。',
  graceWarningDetail: '离线状态下还可使用 {remaining}。',
  graceWarningAction: '请连接网络后点击“立即联网校验”。',
  expiryWarning: '许可证将在 {remaining}后到期。',
  expiryWarningAction: '请续费以继续使用本应用。',
  expiredNow: '已过期',
  renewAction: '请续费后点击“立即联网校验”。',
  settleAction: '请在云商店处理订单后点击“立即联网校验”。',
};

const TABLE: Record<Language, Record<StringKey, string>> = { en, zh };

/** Counted strings: forms chosen by `plural` (exact count, then the language's plural category). */
const COUNTED = {
  transfersLeft: {
    en: {
      one: 'Seats freed in the last day: {used} of {limit}.',
      other: 'Seats freed in the last {n} days: {used} of {limit}.',
    },
    zh: { other: '最近 {n} 天已释放席位：{used} / {limit} 次。' },
  },
} satisfies Record<string, Record<Language, PluralForms>>;

export type CountedKey = keyof typeof COUNTED;

export function tn(lang: Language, key: CountedKey, n: number, vars: Record<string, string | number> = {}): string {
  return plural(lang, n, COUNTED[key][lang]).replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ''));
}

export function t(lang: Language, key: StringKey, vars: Record<string, string | number> = {}): string {
  return TABLE[lang][key].replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ''));
}

/** The browser's language decides the first language: Chinese for any zh-*, English otherwise. */
export function initialLanguage(navigatorLanguage: string | undefined, stored: string | null): Language {
  if (stored === 'en' || stored === 'zh') return stored;
  return (navigatorLanguage ?? '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}
