import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The page only. server.mjs serves it (through Vite in development, from dist/ with
// --production) next to the key environment and the data environment.
export default defineConfig({
  plugins: [react()],
});
