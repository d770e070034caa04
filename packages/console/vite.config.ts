import { createHash } from 'node:crypto';
import { defineConfig, type Plugin } from 'vite';

/**
 * Subresource integrity for the hashed assets index.html names: the server sends them with a year of
 * immutable caching, so the page pins their exact bytes (sha384, as the SRI spec recommends).
 */
function subresourceIntegrity(): Plugin {
  return {
    name: 'licensor-sri',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      const html = bundle['index.html'];
      if (html?.type !== 'asset') return;
      const integrityOf = (file: string) => {
        const out = bundle[file];
        if (!out) throw new Error(`index.html names ${file}, which is not in the bundle`);
        const bytes = out.type === 'chunk' ? out.code : out.source;
        return `sha384-${createHash('sha384').update(bytes).digest('base64')}`;
      };
      html.source = String(html.source).replace(
        /<(script|link)([^>]*?)(src|href)="\/console\/([^"]+)"([^>]*)>/g,
        (tag, el: string, before: string, attr: string, file: string, after: string) =>
          tag.includes('integrity=')
            ? tag
            : `<${el}${before}${attr}="/console/${file}" integrity="${integrityOf(file)}"${after}>`,
      );
    },
  };
}

export default defineConfig({
  root: 'src',
  base: '/console/',
  // Preact's JSX through Vite's own transform (no plugin needed).
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../dist',
    emptyOutDir: true,
    // No inline polyfill script: the CSP allows scripts from this origin only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  plugins: [subresourceIntegrity()],
});
