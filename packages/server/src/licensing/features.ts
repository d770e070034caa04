import { z } from 'zod';

/**
 * Features as the catalogue and a license's own overrides name them: `name → true` (on), `name → number` (a
 * limit such as maxProjects: 20); `false` switches an inherited one off. Here, not in catalog/, because a
 * license's own features are validated by the licensing core, which does not import the catalogue.
 */
const FEATURE_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

export const featuresSchema = z
  .record(
    z.string().regex(FEATURE_NAME, 'feature names start with a letter: letters, digits, _ . - (at most 64)'),
    z.union([z.boolean(), z.number().finite()], { error: 'a feature is true, false or a number' }),
  )
  .refine((f) => Object.keys(f).length <= 200, 'at most 200 features');
export type Features = z.infer<typeof featuresSchema>;
