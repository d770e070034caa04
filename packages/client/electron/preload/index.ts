/**
 * Preload script (sandboxed, bundled to dist/preload.cjs): exposes exactly the typed API of shared/api.ts as
 * `window.licensor` through contextBridge. Nothing else crosses: no ipcRenderer, no generic send.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { buildApi } from './api';

contextBridge.exposeInMainWorld('licensor', buildApi(ipcRenderer));
