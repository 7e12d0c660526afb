// Builds the admin console into dist/web, which the control plane serves at `/` (src/console).
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    // Fonts, icons and charts are inline; keep every asset a file so the CSP needs no data: scripts.
    assetsInlineLimit: 0,
  },
  // `npx vite --config web/vite.config.ts` for development: the API of a local `npm start`.
  server: { proxy: { '/api': { target: 'https://127.0.0.1:7443', secure: false } } },
});
