/**
 * The only file a merchant edits to wire the Electron shell to their product. Three values matter:
 *
 *   1. productId           — the product id your License files carry (the KooGallery product id, e.g. OFFI0001).
 *   2. rootCertificatePath — your Licensor root certificate (PEM). The build step compiles it into the main
 *                            bundle (main/pinnedRoot.ts), so users cannot swap it. Copy it from the server's
 *                            data folder: <LICENSOR_DATA_DIR>/keys/root.crt.pem. Path relative to this file.
 *   3. serverUrl           — your Licensor server (https://…; plain http is accepted only for localhost).
 *
 * The defaults below run against a local development server (`npm start` at the repository root, which
 * writes .data/keys/root.crt.pem). Everything is validated by main/config.ts at build time and at start-up.
 */
import type { ShellConfigInput } from './main/config';

const config: ShellConfigInput = {
  productId: 'OFFI0001',
  rootCertificatePath: '../../../.data/keys/root.crt.pem',
  serverUrl: 'http://localhost:8080',

  // Names the per-user data folder and the windows; letters, digits, spaces, dots, dashes, underscores.
  appName: 'Licensor Demo',
  // The window that opens once the license is valid: an HTML file inside the app's `app/` folder.
  appEntry: 'app/index.html',
};

export default config;
