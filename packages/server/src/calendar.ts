/** The UTC calendar day of `d` as `yyyy-MM-dd`: the day daily usage and reports are counted under. */
export const todayUtc = (d: Date = new Date()): string => d.toISOString().slice(0, 10);
